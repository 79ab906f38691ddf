// A Ticker (lifecycle/ticker.h) whose time moves only when the test says
// so: each Tick() lets the loop past one Wait, advances the clock by that
// tick, and returns once the loop has done the tick's work and waits again.
// Header-only so the unit test glob (unit/*_test.cc) needs no change.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "lifecycle/ticker.h"

namespace osgv::testing {

class FakeTicker : public Ticker {
 public:
  Clock::time_point Now() override {
    std::lock_guard<std::mutex> lock(mu_);
    return now_;
  }
  bool Wait(std::chrono::milliseconds tick) override {
    std::unique_lock<std::mutex> lock(mu_);
    ++waits_;
    waiting_ = true;
    cv_.notify_all();
    cv_.wait(lock, [this] { return stopped_ || released_ > 0; });
    waiting_ = false;
    if (stopped_) return false;
    --released_;
    now_ += tick;
    return true;
  }
  void Stop() override {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
    cv_.notify_all();
  }

  // One tick: false if the loop was not waiting, or did not come back to
  // wait within a generous timeout (a broken test fails, it does not hang).
  bool Tick(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, timeout, [this] { return waiting_ || stopped_; }) || stopped_) {
      return false;
    }
    const size_t before = waits_;
    ++released_;
    cv_.notify_all();
    return cv_.wait_for(lock, timeout, [&] { return stopped_ || waits_ > before; }) && !stopped_;
  }
  // How often the loop has waited (a loop never started has not).
  size_t waits() const {
    std::lock_guard<std::mutex> lock(mu_);
    return waits_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  Clock::time_point now_{};
  size_t waits_ = 0;
  size_t released_ = 0;
  bool waiting_ = false;
  bool stopped_ = false;
};

}  // namespace osgv::testing
