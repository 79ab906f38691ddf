// Starting a monitor from the driver: fork/exec ourselves as `monitor`, then
// wait (bounded) for its one-line start report on a pipe.
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "lifecycle/fs_util.h"
#include "lifecycle/monitor/monitor.h"

namespace osgv {
namespace {

// Reads one line from `fd` until `timeout`; "" on timeout or EOF.
std::string ReadLine(int fd, std::chrono::milliseconds timeout) {
  std::string line;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (line.find('\n') == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    line.append(buf, static_cast<size_t>(n));
  }
  return line;
}

}  // namespace

absl::StatusOr<MonitorHandle> ProcessMonitorLauncher::Launch(const MonitorSpec& spec,
                                                             const std::string& spec_path) {
  auto st = WriteFileReplace(spec_path, MonitorSpecToJson(spec), 0600);
  if (!st.ok()) return st;
  int log_fd = open(spec.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0) return absl::InternalError(absl::StrCat("open ", spec.log_file, ": ", strerror(errno)));
  int status[2];
  if (pipe2(status, O_CLOEXEC) != 0) {
    close(log_fd);
    return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  }
  std::string status_fd_arg = "3";
  const char* argv[] = {self_exe_.c_str(), "monitor", "--spec", spec_path.c_str(),
                        "--status-fd", status_fd_arg.c_str(), nullptr};
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(log_fd);
    close(status[0]);
    close(status[1]);
    return absl::InternalError(absl::StrCat("fork monitor: ", strerror(e)));
  }
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    dup2(status[1], 3);
    close_range(4, ~0U, 0);
    execv(argv[0], const_cast<char* const*>(argv));
    _exit(127);
  }
  close(log_fd);
  close(status[1]);
  // create + state + start, each bounded by the runsc timeout, plus slack.
  std::string line = ReadLine(status[0], timeout_ * 3 + std::chrono::seconds(5));
  close(status[0]);

  auto j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    // The monitor died or hung before reporting: make sure it is gone.
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return absl::InternalError(absl::StrCat("sandbox monitor did not report a start (see ",
                                            spec.log_file, ")"));
  }
  if (!j.value("ok", false)) {
    waitpid(pid, nullptr, 0);
    std::string step = j.value("step", "start");
    std::string err = j.value("error", "unknown error");
    if (step == "create") return absl::FailedPreconditionError(err);
    return absl::AbortedError(err);
  }
  return MonitorHandle{pid, j.value("pid", 0)};
}

}  // namespace osgv
