#include "lifecycle/runsc/command_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sched.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "lifecycle/runsc/tool_paths.h"

namespace osgv {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxCapture = 4 << 20;  // runsc's output is small; cap runaway tools

void CloseFd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

// Child-side failure report: "<what>: errno <n>" on fd 2, then exit 127.
// strerror and snprintf are not async-signal-safe, so the number is
// formatted by hand.
[[noreturn]] void ChildFail(const char* what) {
  int e = errno;
  char buf[160];
  size_t n = 0;
  for (const char* p = what; *p != '\0' && n < 120; ++p) buf[n++] = *p;
  const char mid[] = ": errno ";
  for (const char* p = mid; *p != '\0'; ++p) buf[n++] = *p;
  char digits[12];
  size_t d = 0;
  unsigned v = e < 0 ? 0u : static_cast<unsigned>(e);
  do {
    digits[d++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0 && d < sizeof digits);
  while (d > 0) buf[n++] = digits[--d];
  buf[n++] = '\n';
  (void)!write(2, buf, n);
  _exit(127);
}

// See Command::mask_proc_sys_net. A private mount namespace first, so the
// tmpfs is invisible to every other process (the driver included), and
// propagation off so it cannot leak back through a shared mount.
void MaskProcSysNet() {
  if (unshare(CLONE_NEWNS) != 0) ChildFail("mask /proc/sys/net: unshare(CLONE_NEWNS)");
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    ChildFail("mask /proc/sys/net: make / private");
  }
  if (mount("tmpfs", "/proc/sys/net", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
            "size=4k,mode=555") != 0) {
    ChildFail("mask /proc/sys/net: mount tmpfs");
  }
}

// In the child: wire stdio, close everything else, exec. Only
// async-signal-safe calls here (we forked a multi-threaded process).
[[noreturn]] void ExecChild(const Command& c, const char* path, char* const* argv,
                            char* const* envp, int in_fd, int out_fd, int err_fd) {
  if (c.own_process_group) setpgid(0, 0);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  signal(SIGPIPE, SIG_DFL);
  if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0) _exit(127);
  close_range(3, ~0U, 0);
  // After the dup2s, so a failure is reported on the caller's stderr.
  if (c.mask_proc_sys_net) MaskProcSysNet();
  execve(path, argv, envp);
  const char msg[] = "exec failed\n";
  (void)!write(2, msg, sizeof msg - 1);
  _exit(127);
}

// The usual way to start a child: posix_spawn, which glibc implements with
// clone(CLONE_VM | CLONE_VFORK). Unlike fork it copies none of the
// driver's page tables (~0.5 ms on the path of every runsc call) and
// leaves its gRPC threads no copy-on-write faults to take. Returns the
// child's pid, or -errno (an exec failure is reported here too).
pid_t SpawnChild(const Command& c, const char* path, char* const* argv, char* const* envp,
                 int in_fd, int out_fd, int err_fd) {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_adddup2(&actions, in_fd, 0);
  posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
  posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  sigset_t none;
  sigemptyset(&none);
  sigset_t pipe_only;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (c.own_process_group) flags |= POSIX_SPAWN_SETPGROUP;
  posix_spawnattr_setflags(&attr, flags);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &pipe_only);
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t pid = -1;
  int r = posix_spawn(&pid, path, &actions, &attr, argv, envp);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  return r == 0 ? pid : -r;
}

// Errors from posix_spawn that mean "this program cannot be executed",
// which callers see as a shell would: exit 127.
bool IsExecError(int e) {
  return e == ENOENT || e == EACCES || e == ENOEXEC || e == ENOTDIR || e == ELOOP ||
         e == ENAMETOOLONG || e == EPERM;
}

// Reads whatever is available on `fd` into `out`; returns false at EOF.
bool Drain(int fd, std::string& out) {
  char buf[16384];
  ssize_t n = read(fd, buf, sizeof buf);
  if (n > 0) {
    if (out.size() < kMaxCapture) out.append(buf, static_cast<size_t>(n));
    return true;
  }
  return n < 0 && (errno == EINTR || errno == EAGAIN);
}

enum class Waited { kExited, kTimedOut, kAbandoned };

// Waits for `pid` to exit, without reaping it, until `deadline` or until
// `wake_fd` (the runner's abandon signal) is readable.
Waited WaitForExit(pid_t pid, Clock::time_point deadline, int wake_fd) {
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  Waited out = Waited::kTimedOut;
  while (true) {
    siginfo_t info{};
    int r = waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT);
    if ((r == 0 && info.si_pid == pid) || (r < 0 && errno != EINTR)) {
      out = Waited::kExited;
      break;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    pollfd p[2] = {{wake_fd, POLLIN, 0}, {pidfd, POLLIN, 0}};
    int wait_ms = pidfd >= 0 ? static_cast<int>(std::min<int64_t>(left.count(), 1000)) : 2;
    if (poll(p, pidfd >= 0 ? 2 : 1, wait_ms) > 0 && p[0].revents != 0) {
      out = Waited::kAbandoned;
      break;
    }
  }
  if (pidfd >= 0) close(pidfd);
  return out;
}

}  // namespace

std::string CommandResult::Describe() const {
  std::string what;
  if (timed_out) {
    what = "timed out";
  } else if (signal != 0) {
    what = absl::StrCat("killed by signal ", signal);
  } else {
    what = absl::StrCat("exit code ", exit_code);
  }
  std::string err(absl::StripAsciiWhitespace(stderr_text));
  return err.empty() ? what : absl::StrCat(what, ": ", err);
}

ProcessRunner::ProcessRunner() : wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

ProcessRunner::~ProcessRunner() {
  if (wake_fd_ >= 0) close(wake_fd_);
}

void ProcessRunner::AbandonAll() {
  std::lock_guard<std::mutex> lock(mu_);
  if (abandoned_) return;
  abandoned_ = true;
  // Wake the waiters before the kill: a waiter woken by its child's pipes
  // closing then also sees the wake, and reports CANCELLED, not a SIGKILL.
  uint64_t one = 1;
  if (wake_fd_ >= 0) (void)!write(wake_fd_, &one, sizeof one);
  for (const auto& [pid, group] : children_) {
    if (group) kill(-pid, SIGKILL);
    kill(pid, SIGKILL);  // also before a forked child has made its group
  }
}

bool ProcessRunner::Track(pid_t pid, bool group) {
  std::lock_guard<std::mutex> lock(mu_);
  children_[pid] = group;
  return !abandoned_;
}

void ProcessRunner::Forget(pid_t pid) {
  std::lock_guard<std::mutex> lock(mu_);
  children_.erase(pid);
}

bool ProcessRunner::abandoned() {
  std::lock_guard<std::mutex> lock(mu_);
  return abandoned_;
}

absl::StatusOr<CommandResult> ProcessRunner::Run(const Command& c) {
  if (c.argv.empty()) return absl::InvalidArgumentError("command: empty argv");
  if (abandoned()) {
    return absl::CancelledError(
        absl::StrCat(c.argv[0], ": not started: the driver is shutting down"));
  }

  // By absolute path: a bare name is looked up in the fixed search path
  // (never the driver's PATH); a relative path is refused.
  auto path = ResolveTool("command", c.argv[0]);
  if (absl::IsNotFound(path.status())) {
    CommandResult result;  // as a shell reports a command it cannot find
    result.exit_code = 127;
    result.stderr_text = absl::StrCat("exec failed: ", path.status().message(), "\n");
    return result;
  }
  if (!path.ok()) return path.status();
  std::vector<char*> argv;
  for (const auto& a : c.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  // Never the driver's own environment: it may hold secrets.
  std::vector<char*> envp;
  for (const auto& kv : ToolEnvironment()) envp.push_back(const_cast<char*>(kv.c_str()));
  envp.push_back(nullptr);

  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0) return absl::InternalError(absl::StrCat("open /dev/null: ", strerror(errno)));
  int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
  if ((c.stdout_fd < 0 && pipe2(out_pipe, O_CLOEXEC) != 0) ||
      (c.stderr_fd < 0 && pipe2(err_pipe, O_CLOEXEC) != 0)) {
    int e = errno;
    CloseFd(devnull);
    for (int* fd : {&out_pipe[0], &out_pipe[1], &err_pipe[0], &err_pipe[1]}) CloseFd(*fd);
    return absl::InternalError(absl::StrCat("pipe: ", strerror(e)));
  }
  int in_fd = c.stdin_fd >= 0 ? c.stdin_fd : devnull;
  int out_fd = c.stdout_fd >= 0 ? c.stdout_fd : out_pipe[1];
  int err_fd = c.stderr_fd >= 0 ? c.stderr_fd : err_pipe[1];

  // The /proc/sys/net mask needs code between fork and exec; everything
  // else is spawned without copying this process.
  pid_t pid = -1;
  if (c.mask_proc_sys_net) {
    pid = fork();
    if (pid == 0) ExecChild(c, path->c_str(), argv.data(), envp.data(), in_fd, out_fd, err_fd);
    if (pid < 0) pid = -errno;
  } else {
    pid = SpawnChild(c, path->c_str(), argv.data(), envp.data(), in_fd, out_fd, err_fd);
  }
  CloseFd(devnull);
  CloseFd(out_pipe[1]);
  CloseFd(err_pipe[1]);
  CommandResult result;
  if (pid < 0) {
    CloseFd(out_pipe[0]);
    CloseFd(err_pipe[0]);
    int e = -pid;
    if (!IsExecError(e)) return absl::InternalError(absl::StrCat("spawn ", argv[0], ": ", strerror(e)));
    result.exit_code = 127;
    result.stderr_text = absl::StrCat("exec failed: ", argv[0], ": ", strerror(e), "\n");
    return result;
  }

  // From here on AbandonAll can kill it; if it already ran, at once.
  bool abandoned = !Track(pid, c.own_process_group);
  const auto deadline = Clock::now() + c.timeout;
  // Read both pipes until EOF (the child and anything it left holding them
  // closed them), the deadline passes or the runner is abandoned.
  while (!abandoned && (out_pipe[0] >= 0 || err_pipe[0] >= 0)) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      break;
    }
    pollfd fds[3];
    int n = 0;
    fds[n++] = {wake_fd_, POLLIN, 0};
    if (out_pipe[0] >= 0) fds[n++] = {out_pipe[0], POLLIN, 0};
    if (err_pipe[0] >= 0) fds[n++] = {err_pipe[0], POLLIN, 0};
    int r = poll(fds, n, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (r < 0 && errno != EINTR) break;
    if (r > 0 && fds[0].revents != 0) {
      abandoned = true;
      break;
    }
    for (int i = 1; i < n && r > 0; ++i) {
      if (fds[i].revents == 0) continue;
      bool is_out = fds[i].fd == out_pipe[0];
      if (!Drain(fds[i].fd, is_out ? result.stdout_text : result.stderr_text)) {
        CloseFd(is_out ? out_pipe[0] : err_pipe[0]);
      }
    }
  }

  // Passthrough commands have no pipes to wait on: wait for the exit itself,
  // still bounded by the deadline.
  if (!result.timed_out && !abandoned) {
    Waited w = WaitForExit(pid, deadline, wake_fd_);
    result.timed_out = w == Waited::kTimedOut;
    abandoned = w == Waited::kAbandoned;
  }
  if (result.timed_out || abandoned) {
    if (c.own_process_group) kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
  }
  Forget(pid);  // before the reap frees the pid for reuse
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  CloseFd(out_pipe[0]);
  CloseFd(err_pipe[0]);
  // A child that exited of the SIGKILL AbandonAll sent was abandoned, however
  // the wait above learnt of its end (its pipes closing, or waitid).
  if (!abandoned && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL && this->abandoned()) {
    abandoned = true;
  }
  if (abandoned) {
    std::string err(absl::StripAsciiWhitespace(result.stderr_text));
    return absl::CancelledError(absl::StrCat(absl::StrJoin(c.argv, " "),
                                             ": killed: the driver is shutting down",
                                             err.empty() ? "" : ": ", err));
  }
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  if (result.timed_out) {
    if (!result.stderr_text.empty() && result.stderr_text.back() != '\n') result.stderr_text += "\n";
    result.stderr_text += absl::StrCat(absl::StrJoin(c.argv, " "), ": timed out after ",
                                       c.timeout.count(), "ms");
  }
  return result;
}

}  // namespace osgv
