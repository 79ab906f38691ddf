// Starting a monitor from the driver. A monitor is this very binary run as
// `monitor`; loading it (a large C++ program with gRPC's static set-up)
// costs ~15 ms, which used to sit on every create's and every Start's
// path. So one monitor is always started ahead ("warm"): it sets itself up
// and then blocks on a socket until the driver hands it the path of a
// sandbox's monitor spec. A Launch takes the warm one (or starts one if
// there is none), hands it the spec, waits (bounded) for its one-line
// start report, and starts the next warm one.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
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

void Reap(int pid) {
  while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

// Sends the spec path; false (errno set) if the monitor is gone.
// MSG_NOSIGNAL: a warm monitor that died must not take us with SIGPIPE.
bool HandOver(int go_fd, const std::string& line) {
  return send(go_fd, line.data(), line.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(line.size());
}

}  // namespace

ProcessMonitorLauncher::~ProcessMonitorLauncher() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!warm_) return;
  // Its socket's EOF tells it no sandbox is coming; it exits at once.
  close(warm_->go_fd);
  close(warm_->status_fd);
  Reap(warm_->pid);
  warm_.reset();
}

absl::StatusOr<ProcessMonitorLauncher::Idle> ProcessMonitorLauncher::Spawn() {
  int go[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, go) != 0) {
    return absl::InternalError(absl::StrCat("socketpair: ", strerror(errno)));
  }
  int status[2];
  if (pipe2(status, O_CLOEXEC) != 0) {
    int e = errno;
    close(go[0]);
    close(go[1]);
    return absl::InternalError(absl::StrCat("pipe: ", strerror(e)));
  }
  const char* argv[] = {self_exe_.c_str(), "monitor", "--status-fd", "3", "--go-fd", "4", nullptr};
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    for (int fd : {go[0], go[1], status[0], status[1]}) close(fd);
    return absl::InternalError(absl::StrCat("fork monitor: ", strerror(e)));
  }
  if (pid == 0) {
    // Only async-signal-safe calls: we forked a multi-threaded process. The
    // monitor points stdout/stderr at its sandbox's log once it has one.
    // Both ends go above 4 first: one of them may already sit on 3 or 4,
    // where a dup2 would clobber it or (same fd) keep its O_CLOEXEC.
    int status_w = fcntl(status[1], F_DUPFD, 10);
    int go_r = fcntl(go[1], F_DUPFD, 10);
    int devnull = open("/dev/null", O_RDWR);
    dup2(devnull, 0);
    dup2(devnull, 1);
    dup2(devnull, 2);
    dup2(status_w, 3);
    dup2(go_r, 4);
    close_range(5, ~0U, 0);
    execv(argv[0], const_cast<char* const*>(argv));
    _exit(127);
  }
  close(status[1]);
  close(go[1]);
  return Idle{pid, go[0], status[0]};
}

absl::Status ProcessMonitorLauncher::Prime() {
  std::lock_guard<std::mutex> lock(mu_);
  if (warm_) return absl::OkStatus();
  auto idle = Spawn();
  if (!idle.ok()) return idle.status();
  warm_ = *idle;
  return absl::OkStatus();
}

void ProcessMonitorLauncher::Discard(const Idle& idle) {
  close(idle.go_fd);
  close(idle.status_fd);
  kill(idle.pid, SIGKILL);  // harmless if it is already dead (then a zombie)
  Reap(idle.pid);
}

absl::StatusOr<ProcessMonitorLauncher::Idle> ProcessMonitorLauncher::Take() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (warm_) {
      Idle idle = *warm_;
      warm_.reset();
      return idle;
    }
  }
  return Spawn();  // none ready (first use, or launches in parallel)
}

absl::StatusOr<MonitorHandle> ProcessMonitorLauncher::Launch(const MonitorSpec& spec,
                                                             const std::string& spec_path) {
  auto st = WriteFileReplace(spec_path, MonitorSpecToJson(spec), 0600);
  if (!st.ok()) return st;
  auto idle = Take();
  if (!idle.ok()) return idle.status();
  std::string line = spec_path + "\n";
  if (!HandOver(idle->go_fd, line)) {
    // It died while it waited (killed by an operator?): start a fresh one.
    Discard(*idle);
    idle = Spawn();
    if (!idle.ok()) return idle.status();
    if (!HandOver(idle->go_fd, line)) {
      int e = errno;
      Discard(*idle);
      return absl::InternalError(absl::StrCat("hand the sandbox to its monitor: ", strerror(e)));
    }
  }
  close(idle->go_fd);
  // create + start (or restore), each bounded by the runsc timeout, plus slack.
  line = ReadLine(idle->status_fd, timeout_ * 3 + std::chrono::seconds(5));
  close(idle->status_fd);
  // The next sandbox's monitor loads now, off this one's path.
  Prime().IgnoreError();

  const int pid = idle->pid;
  auto j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    // The monitor died or hung before reporting: make sure it is gone.
    kill(pid, SIGKILL);
    Reap(pid);
    return absl::InternalError(absl::StrCat("sandbox monitor did not report a start (see ",
                                            spec.log_file, ")"));
  }
  if (!j.value("ok", false)) {
    Reap(pid);
    std::string step = j.value("step", "start");
    std::string err = j.value("error", "unknown error");
    if (step == "create") return absl::FailedPreconditionError(err);
    return absl::AbortedError(err);
  }
  return MonitorHandle{pid, j.value("pid", 0), j.value("runsc_ms", 0.0)};
}

}  // namespace osgv
