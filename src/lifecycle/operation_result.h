// The answer of one queued operation (OperationQueue), for the callers that
// wait for it: the first Complete() wins, and every waiter gives up at its
// own deadline, leaving the operation to run on.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>

#include "absl/status/statusor.h"

namespace osgv {

// A gRPC deadline, as ServerContext::deadline() gives it; max() = none.
using Deadline = std::chrono::system_clock::time_point;
inline constexpr Deadline kNoDeadline = Deadline::max();

class OperationResult {
 public:
  // StatusOr<bool>: Delete's "was there"; Stop and Start answer true.
  using Value = absl::StatusOr<bool>;

  // The first call sets the answer; later ones are ignored.
  void Complete(Value value) {
    std::lock_guard<std::mutex> lock(mu_);
    if (value_) return;
    value_ = std::move(value);
    cv_.notify_all();
  }
  bool done() const {
    std::lock_guard<std::mutex> lock(mu_);
    return value_.has_value();
  }
  // The answer, or nullopt when `deadline` passed first.
  std::optional<Value> Wait(Deadline deadline) const {
    std::unique_lock<std::mutex> lock(mu_);
    auto ready = [this] { return value_.has_value(); };
    // max() would overflow the conversion to the condition variable's clock.
    if (deadline == kNoDeadline) {
      cv_.wait(lock, ready);
    } else if (!cv_.wait_until(lock, deadline, ready)) {
      return std::nullopt;
    }
    return value_;
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::optional<Value> value_;
};

}  // namespace osgv
