// A one-shot gate for tests that coordinate threads without sleeping:
// Open() lets every Wait() through, now and later. Wait gives up after a
// generous timeout (false), so a broken test fails instead of hanging.
// Header-only so the unit test glob (unit/*_test.cc) needs no change.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace osgv::testing {

class Gate {
 public:
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  bool Wait(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [this] { return open_; });
  }
  bool is_open() const {
    std::lock_guard<std::mutex> lock(mu_);
    return open_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

}  // namespace osgv::testing
