// Whether start-up recovery has finished, for the RPCs that must not answer
// from an incomplete picture (docs/lifecycle.md, "Crash recovery"). They
// wait at most kRecoveryWait, or until their own deadline when that comes
// first, and then fail with UNAVAILABLE (or DEADLINE_EXCEEDED).
//
// A unary RPC runs on a sync pool thread and simply waits (Await). A
// callback handler (WatchSandboxes) must never block its gRPC library
// thread, so it leaves a continuation instead (WhenReady), which runs when
// SetReady is called or, through a grpc::Alarm, when the wait's limit
// passes, whichever comes first.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <memory>

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
  // error Await would give from a gRPC alarm thread when the bound or
  // `deadline` passes first.
  void WhenReady(Deadline deadline, Continuation then);
  // Continuations still waiting: for tests.
  size_t pending() const;

 private:
  struct State;
  std::shared_ptr<State> state_;  // shared with the alarms' callbacks
};

}  // namespace osgv
