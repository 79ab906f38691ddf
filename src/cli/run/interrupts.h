// Ctrl-C, SIGTERM and SIGHUP for `run` and `probe`: the first one asks for
// the normal cleanup, a second one for the fast one.
//
// Handlers (not a blocked mask + sigwait) so that the children we start,
// the sandbox monitors included, inherit nothing: exec resets handlers.
#pragma once

#include <atomic>
#include <functional>
#include <thread>

namespace osgv {

class InterruptHandler {
 public:
  using Callback = std::function<void(int signal)>;
  // `first` and `second` run on the handler's own thread, never in signal
  // context.
  InterruptHandler(Callback first, Callback second);
  ~InterruptHandler();  // restores the previous dispositions

  // The first signal received, or 0.
  int signal() const { return first_signal_.load(); }

 private:
  void Loop();

  Callback first_, second_;
  std::atomic<int> first_signal_{0};
  int pipe_[2] = {-1, -1};
  std::thread thread_;
};

}  // namespace osgv
