#include "driver/stdio_passthrough.h"

#include <fcntl.h>
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

void CopyAll(int from, int to) {
  char buf[65536];
  ssize_t n;
  while ((n = read(from, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
    for (ssize_t off = 0; n > 0 && off < n;) {
      ssize_t w = write(to, buf + off, static_cast<size_t>(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return;
      off += w;
    }
  }
}

// A pipe standing in for a regular file on one stdio stream.
struct StdioBridge {
  int child_fd = -1;  // what runsc gets
  std::thread pump;

  void Open(int our_fd, bool is_input) {
    if (!IsRegularFile(our_fd)) {
      child_fd = our_fd;
      return;
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
      child_fd = our_fd;
      return;
    }
    if (is_input) {
      child_fd = p[0];
      pump = std::thread([our_fd, w = p[1]] {
        CopyAll(our_fd, w);
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
  void Join() {
    if (pump.joinable()) pump.join();
  }

 private:
  int owned_ = -1;
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
  in.CloseChildEnd();
  out.CloseChildEnd();
  err.CloseChildEnd();
  // stdin's pump may block reading a large file nobody consumes; detach it.
  if (in.pump.joinable()) in.pump.detach();
  out.Join();
  err.Join();
  return result;
}

int ExitCodeOf(const CommandResult& result) {
  return result.signal != 0 ? 128 + result.signal : result.exit_code;
}

}  // namespace osgv
