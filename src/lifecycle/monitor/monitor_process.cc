// The monitor's own process: start the sandbox, then reap, copy output and
// record the exit. One duty per function, conmon-style.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "lifecycle/fs_util.h"
#include "lifecycle/monitor/console_log.h"
#include "lifecycle/monitor/monitor.h"
#include "lifecycle/state_layout.h"
#include "lifecycle/wall_clock.h"

namespace osgv {
namespace {

void WriteAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

void Report(int status_fd, const nlohmann::json& j) {
  if (status_fd < 0) return;
  WriteAll(status_fd, j.dump() + "\n");
  close(status_fd);
}

// Whatever runsc printed on the (non-blocking) stderr pipe: its error text
// when create/start failed.
std::string DrainNonBlocking(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

// Copies the main process's output into console.log and reaps every child
// (we are their subreaper) until the sandbox process has exited and its
// pipes are closed. Returns the sandbox's exit code.
int SuperviseUntilExit(pid_t sandbox_pid, int out_fd, int err_fd, ConsoleLog& console) {
  int fds[2] = {out_fd, err_fd};
  bool exited = false;
  int exit_code = -1;
  auto exited_at = std::chrono::steady_clock::now();
  while (true) {
    pollfd p[2];
    int n = 0;
    for (int fd : fds) {
      if (fd >= 0) p[n++] = {fd, POLLIN, 0};
    }
    if (n > 0) poll(p, n, 200);
    else usleep(50 * 1000);
    for (int i = 0; i < n; ++i) {
      if (p[i].revents == 0) continue;
      char buf[16384];
      ssize_t r = read(p[i].fd, buf, sizeof buf);
      if (r > 0) {
        console.Write(buf, static_cast<size_t>(r));
      } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        for (int& fd : fds) {
          if (fd == p[i].fd) {
            close(fd);
            fd = -1;
          }
        }
      }
    }
    int status = 0;
    pid_t w;
    while ((w = waitpid(-1, &status, WNOHANG)) > 0) {
      if (w == sandbox_pid) {
        exited = true;
        exited_at = std::chrono::steady_clock::now();
        exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
    }
    bool pipes_done = fds[0] < 0 && fds[1] < 0;
    // The pipes may be held open by a straggler; do not wait on them long.
    if (exited && (pipes_done || std::chrono::steady_clock::now() - exited_at >
                                     std::chrono::seconds(2))) {
      return exit_code;
    }
  }
}

pid_t ReadPidFile(const std::string& path) {
  auto text = ReadFile(path);
  int pid = 0;
  if (!text.ok() || !absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &pid)) return -1;
  return pid;
}

// Reaps the gofer and stubs that exit after the sandbox, for a short while.
void ReapStragglers() {
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < until) {
    pid_t w = waitpid(-1, nullptr, WNOHANG);
    if (w < 0 && errno == ECHILD) return;
    if (w <= 0) usleep(20 * 1000);
  }
}

// The spec path the driver hands over on go_fd: one line; "" at EOF.
std::string ReadHandOver(int go_fd) {
  std::string line;
  char buf[4096];
  while (line.find('\n') == std::string::npos) {
    ssize_t n = read(go_fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return "";
    line.append(buf, static_cast<size_t>(n));
  }
  return line.substr(0, line.find('\n'));
}

// From here on the monitor belongs to one sandbox: its output goes to the
// sandbox's monitor log and it lives in the sandbox's directory.
void SettleInto(const std::string& sandbox_dir, const std::string& log_file) {
  int log_fd = open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd >= 0) {
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    close(log_fd);
  }
  if (chdir(sandbox_dir.c_str()) != 0) {
    std::string line = absl::StrCat("monitor: chdir ", sandbox_dir, ": ", strerror(errno), "\n");
    WriteAll(2, line);
  }
}

}  // namespace

bool IsMonitorOf(int pid, const std::string& sandbox_dir) {
  // Same directory by device and inode: the state dir's path may pass
  // through a symlink that /proc/<pid>/cwd resolves.
  std::error_code ec;
  if (!std::filesystem::equivalent(absl::StrCat("/proc/", pid, "/cwd"), sandbox_dir, ec) || ec) {
    return false;
  }
  auto cmdline = ReadFile(absl::StrCat("/proc/", pid, "/cmdline"));
  return cmdline.ok() && cmdline->find(std::string("\0monitor\0", 9)) != std::string::npos;
}

int RunMonitor(int go_fd, int status_fd) {
  setsid();  // no controlling tty, no process group shared with the driver
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  signal(SIGHUP, SIG_IGN);
  signal(SIGINT, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);

  // Warm: loaded and set up; now wait for a sandbox.
  const std::string spec_path = ReadHandOver(go_fd);
  close(go_fd);
  if (spec_path.empty()) return 0;  // the driver went away first

  auto text = ReadFile(spec_path);
  if (!text.ok()) {
    Report(status_fd, {{"ok", false}, {"error", text.status().ToString()}});
    return 1;
  }
  auto spec = MonitorSpecFromJson(*text);
  if (!spec.ok()) {
    Report(status_fd, {{"ok", false}, {"error", spec.status().ToString()}});
    return 1;
  }
  const std::string sandbox_dir = std::filesystem::path(spec_path).parent_path().string();
  SettleInto(sandbox_dir, spec->log_file);
  // Lets a restarted driver find us even if it died before it learned our
  // pid (IsMonitorOf checks our cwd, so a reused pid cannot fool it).
  WriteFileReplace(SandboxPaths{sandbox_dir}.monitor_pid(), absl::StrCat(getpid(), "\n"), 0600)
      .IgnoreError();

  ConsoleLog console(spec->console_log, spec->console_log_max_bytes);
  bool console_open = console.Open();
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int out[2], err[2];
  if (!console_open || devnull < 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    Report(status_fd, {{"ok", false}, {"error", absl::StrCat("monitor setup: ", strerror(errno))}});
    return 1;
  }
  fcntl(err[0], F_SETFL, O_NONBLOCK);

  ProcessRunner runner;
  Runsc runsc(&runner, spec->runsc);
  RunscFeatures features;
  features.flags = spec->runsc_flags;
  runsc.SetFeatures(features);

  auto fail = [&](const std::string& step, const absl::Status& st) {
    std::string runsc_err = DrainNonBlocking(err[0]);
    std::string msg = absl::StrCat(step, ": ", st.message());
    if (!runsc_err.empty()) absl::StrAppend(&msg, ": ", runsc_err);
    Report(status_fd, {{"ok", false}, {"error", msg}, {"step", step}});
    return 1;
  };

  const bool restoring = !spec->restore_image_dir.empty();
  const char* step = restoring ? "restore" : "create";
  const std::string pid_file = spec->bundle + "/sandbox.pid";
  unlink(pid_file.c_str());
  auto runsc_started = std::chrono::steady_clock::now();
  auto st = restoring ? runsc.Restore(spec->container_id, spec->bundle, spec->restore_image_dir,
                                      pid_file, devnull, out[1], err[1])
                      : runsc.Create(spec->container_id, spec->bundle, pid_file, devnull, out[1],
                                     err[1]);
  if (!st.ok()) {
    runsc.Delete(spec->container_id, true).IgnoreError();
    ReapStragglers();
    return fail(step, st);
  }
  close(out[1]);
  close(err[1]);
  pid_t sandbox_pid = ReadPidFile(pid_file);
  if (sandbox_pid <= 0) {
    runsc.Delete(spec->container_id, true).IgnoreError();
    return fail(step, absl::InternalError("runsc wrote no sandbox pid to " + pid_file));
  }
  if (!restoring) {
    st = runsc.Start(spec->container_id);
    if (!st.ok()) {
      runsc.Delete(spec->container_id, true).IgnoreError();
      ReapStragglers();
      return fail("start", st);
    }
  }
  fcntl(err[0], F_SETFL, 0);
  // The driver's step log separates runsc's time from the monitor's own.
  double runsc_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                              runsc_started)
                        .count();
  Report(status_fd, {{"ok", true}, {"pid", sandbox_pid}, {"runsc_ms", runsc_ms}});

  int code = SuperviseUntilExit(sandbox_pid, out[0], err[0], console);
  auto written = WriteExitRecord(spec->exit_file, {code, UnixNowMs()});
  if (!written.ok()) {
    std::string line = absl::StrCat("monitor: cannot record exit: ", written.ToString(), "\n");
    WriteAll(2, line);
  }
  ReapStragglers();
  return 0;
}

}  // namespace osgv
