#include "cli/stdio_passthrough.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

namespace osgv {
namespace {

bool IsRegularFile(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

// Copies until EOF, a failed write, or (when `stop_fd` >= 0, with `to`
// non-blocking) until `stop_fd` is readable: a command that ends without
// reading all its input must not leave the pump blocked.
void CopyAll(int from, int to, int stop_fd = -1) {
  char buf[65536];
  ssize_t n;
  while ((n = read(from, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
    for (ssize_t off = 0; n > 0 && off < n;) {
      if (stop_fd >= 0) {
        pollfd p[2] = {{to, POLLOUT, 0}, {stop_fd, POLLIN, 0}};
        if (poll(p, 2, -1) < 0 && errno != EINTR) return;
        if (p[1].revents != 0) return;
        if (p[0].revents == 0) continue;
      }
      ssize_t w = write(to, buf + off, static_cast<size_t>(n - off));
      if (w < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (w <= 0) return;
      off += w;
    }
  }
}

// A pipe standing in for a regular file on one stdio stream.
struct StdioBridge {
  int child_fd = -1;  // what runsc gets
  std::thread pump;
  ~StdioBridge() {
    if (stop_fd_ >= 0) close(stop_fd_);
  }

  void Open(int our_fd, bool is_input) {
    if (!IsRegularFile(our_fd)) {
      child_fd = our_fd;
      return;
    }
    if (is_input) stop_fd_ = eventfd(0, EFD_CLOEXEC);
    int p[2];
    if ((is_input && stop_fd_ < 0) || pipe2(p, O_CLOEXEC) != 0) {
      child_fd = our_fd;
      return;
    }
    if (is_input) {
      child_fd = p[0];
      // Our end only (the child's stays blocking), so a poll can stop it.
      fcntl(p[1], F_SETFL, O_NONBLOCK);
      pump = std::thread([our_fd, w = p[1], stop = stop_fd_] {
        CopyAll(our_fd, w, stop);
        close(w);
      });
    } else {
      child_fd = p[1];
      pump = std::thread([our_fd, r = p[0]] {
        CopyAll(r, our_fd);
        close(r);
      });
    }
    owned_ = p[is_input ? 0 : 1];
  }
  // Our copy of the child's end must close so the pump sees EOF.
  void CloseChildEnd() {
    if (owned_ >= 0) close(owned_);
    owned_ = -1;
  }
  // Ends an input pump that still waits to write: the command is over.
  void Stop() {
    uint64_t one = 1;
    if (stop_fd_ >= 0) (void)!write(stop_fd_, &one, sizeof one);
  }
  void Join() {
    if (pump.joinable()) pump.join();
  }

 private:
  int owned_ = -1;
  int stop_fd_ = -1;
};

}  // namespace

absl::StatusOr<CommandResult> RunAttached(CommandRunner* runner, std::vector<std::string> argv,
                                          std::chrono::milliseconds timeout) {
  StdioBridge in, out, err;
  in.Open(0, true);
  out.Open(1, false);
  err.Open(2, false);
  Command cmd;
  cmd.argv = std::move(argv);
  cmd.timeout = timeout;
  cmd.stdin_fd = in.child_fd;
  cmd.stdout_fd = out.child_fd;
  cmd.stderr_fd = err.child_fd;
  cmd.own_process_group = false;  // stay in the terminal's foreground group
  auto result = runner->Run(cmd);
  // stdin's pump may still wait to write a large file nobody consumes. It
  // is stopped while we still hold a reader of its pipe, so its last write
  // can never raise SIGPIPE.
  in.Stop();
  in.Join();
  in.CloseChildEnd();
  out.CloseChildEnd();
  err.CloseChildEnd();
  out.Join();
  err.Join();
  return result;
}

int ExitCodeOf(const CommandResult& result) {
  return result.signal != 0 ? 128 + result.signal : result.exit_code;
}

}  // namespace osgv
