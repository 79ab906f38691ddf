#include "cli/run/interrupts.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>

namespace osgv {
namespace {

constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP};
int g_write_fd = -1;  // the handler may only touch async-signal-safe state
struct sigaction g_previous[3];

void OnSignal(int sig) {
  int saved = errno;
  unsigned char b = static_cast<unsigned char>(sig);
  (void)!write(g_write_fd, &b, 1);
  errno = saved;
}

}  // namespace

InterruptHandler::InterruptHandler(Callback first, Callback second)
    : first_(std::move(first)), second_(std::move(second)) {
  if (pipe2(pipe_, O_CLOEXEC) != 0) return;
  g_write_fd = pipe_[1];
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  for (int i = 0; i < 3; ++i) sigaction(kSignals[i], &sa, &g_previous[i]);
  thread_ = std::thread([this] { Loop(); });
}

InterruptHandler::~InterruptHandler() {
  if (pipe_[1] < 0) return;
  for (int i = 0; i < 3; ++i) sigaction(kSignals[i], &g_previous[i], nullptr);
  close(pipe_[1]);  // ends Loop()
  if (thread_.joinable()) thread_.join();
  close(pipe_[0]);
  g_write_fd = -1;
}

void InterruptHandler::Loop() {
  int count = 0;
  unsigned char b;
  ssize_t n;
  while ((n = read(pipe_[0], &b, 1)) != 0) {
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (++count == 1) {
      first_signal_ = b;
      if (first_) first_(b);
    } else if (second_) {
      second_(b);
    }
  }
}

}  // namespace osgv
