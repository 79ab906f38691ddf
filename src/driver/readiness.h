// Whether start-up recovery has finished, for the RPCs that must not answer
// from an incomplete picture (docs/lifecycle.md, "Crash recovery"). They
// wait at most kRecoveryWait, or until their own deadline when that comes
// first, and then fail with UNAVAILABLE (or DEADLINE_EXCEEDED).
//
// A unary RPC runs on a sync pool thread and simply waits (Await). A
// callback handler (WatchSandboxes) must never block its gRPC library
// thread, so it leaves a continuation instead (WhenReady), which runs when
// SetReady is called or when the wait's limit passes, whichever comes
// first. The limits are kept by one thread of this object's own, started
// by the first continuation that has to wait and joined by SetReady (or the
// destructor); a grpc::Alarm would hand our continuations to gRPC's
// uninstrumented threads, which ThreadSanitizer cannot follow.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "lifecycle/operation_result.h"

namespace osgv {

inline constexpr std::chrono::milliseconds kRecoveryWait{60000};

class Readiness {
 public:
  using Continuation = std::function<void(const grpc::Status&)>;

  // `bound`: how long an RPC waits for recovery at most (tests shorten it).
  explicit Readiness(std::chrono::milliseconds bound = kRecoveryWait);
  ~Readiness();
  Readiness(const Readiness&) = delete;
  Readiness& operator=(const Readiness&) = delete;

  // Recovery is done: wakes every waiter and runs every continuation with
  // OK, on this thread.
  void SetReady();
  // OK once ready; else waits until then, the bound or `deadline`.
  grpc::Status Await(Deadline deadline);
  // Runs `then` exactly once, without blocking the caller: at once (on this
  // thread) when ready already; else with OK from SetReady, or with the
  // error Await would give, from this object's thread, when the bound or
  // `deadline` passes first. Dropped unrun by the destructor.
  void WhenReady(Deadline deadline, Continuation then);
  // Continuations still waiting: for tests.
  size_t pending() const;

 private:
  struct Waiter {
    Deadline limit;     // when it ends unless ready
    Deadline deadline;  // the call's, which tells the two errors apart
    Continuation then;
  };

  // The wait's end for a call with `deadline` (max() = none).
  Deadline Limit(Deadline deadline) const;
  static grpc::Status Expired(Deadline limit, Deadline deadline);
  // The thread's loop: runs each waiter whose limit has passed.
  void EndExpired();

  const std::chrono::milliseconds bound_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool ready_ = false;
  bool closing_ = false;  // the destructor runs
  uint64_t next_id_ = 0;
  std::map<uint64_t, Waiter> waiters_;
  std::thread expirer_;  // EndExpired, started by the first waiter
};

}  // namespace osgv
