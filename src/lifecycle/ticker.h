// The time of a periodic loop (idle suspend): what time it is, and the wait
// for the next tick. SteadyTicker is the steady clock and a condition
// variable; a test's fake (tests/unit/fake_ticker.h) moves only when the
// test says so, so no test waits for wall time to pass.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace osgv {

class Ticker {
 public:
  using Clock = std::chrono::steady_clock;

  virtual ~Ticker() = default;
  virtual Clock::time_point Now() = 0;
  // Until `tick` has passed: true; false (at once) once Stop() was called.
  virtual bool Wait(std::chrono::milliseconds tick) = 0;
  // Ends every Wait, now and later.
  virtual void Stop() = 0;
};

class SteadyTicker : public Ticker {
 public:
  Clock::time_point Now() override { return Clock::now(); }
  bool Wait(std::chrono::milliseconds tick) override {
    std::unique_lock<std::mutex> lock(mu_);
    return !cv_.wait_for(lock, tick, [this] { return stopped_; });
  }
  void Stop() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopped_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;
};

}  // namespace osgv
