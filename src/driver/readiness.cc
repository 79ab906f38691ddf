#include "driver/readiness.h"

#include <grpcpp/alarm.h>

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <vector>

namespace osgv {

struct Readiness::State {
  struct Waiter {
    Continuation then;
    std::unique_ptr<grpc::Alarm> alarm;  // ends the wait at its limit
  };

  explicit State(std::chrono::milliseconds b) : bound(b) {}

  // The wait's end for a call with `deadline` (max() = none), and the
  // error it ends with.
  Deadline Limit(Deadline deadline) const {
    return std::min(deadline, std::chrono::system_clock::now() + bound);
  }
  static grpc::Status Expired(Deadline limit, Deadline deadline) {
    if (limit == deadline) {
      return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                          "driver is still recovering its sandboxes; the call's deadline passed");
    }
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "driver is still recovering its sandboxes");
  }

  const std::chrono::milliseconds bound;
  mutable std::mutex mu;
  std::condition_variable cv;
  bool ready = false;
  uint64_t next_id = 0;
  std::map<uint64_t, Waiter> waiters;
};

Readiness::Readiness(std::chrono::milliseconds bound) : state_(std::make_shared<State>(bound)) {}

Readiness::~Readiness() {
  // An alarm not yet fired calls back (cancelled) into the shared state,
  // which outlives this object; the continuations are dropped unrun.
  std::map<uint64_t, State::Waiter> waiters;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    waiters.swap(state_->waiters);
  }
}

void Readiness::SetReady() {
  std::map<uint64_t, State::Waiter> waiters;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->ready = true;
    waiters.swap(state_->waiters);
  }
  state_->cv.notify_all();
  // Outside the lock: a continuation may open a watch, which may call back.
  for (auto& [id, w] : waiters) {
    w.alarm->Cancel();
    w.then(grpc::Status::OK);
  }
}

grpc::Status Readiness::Await(Deadline deadline) {
  const Deadline limit = state_->Limit(deadline);
  std::unique_lock<std::mutex> lock(state_->mu);
  if (state_->cv.wait_until(lock, limit, [this] { return state_->ready; })) {
    return grpc::Status::OK;
  }
  return State::Expired(limit, deadline);
}

void Readiness::WhenReady(Deadline deadline, Continuation then) {
  const Deadline limit = state_->Limit(deadline);
  std::unique_lock<std::mutex> lock(state_->mu);
  if (state_->ready) {
    lock.unlock();
    then(grpc::Status::OK);
    return;
  }
  const uint64_t id = state_->next_id++;
  auto& waiter = state_->waiters[id];
  waiter.then = std::move(then);
  waiter.alarm = std::make_unique<grpc::Alarm>();
  // ok is false when SetReady cancelled the alarm: it has run `then` already.
  waiter.alarm->Set(limit, [state = state_, id, limit, deadline](bool ok) {
    if (!ok) return;
    std::unique_lock<std::mutex> lock(state->mu);
    auto it = state->waiters.find(id);
    if (it == state->waiters.end()) return;  // SetReady took it first
    Continuation expired = std::move(it->second.then);
    // The alarm is this callback's own: destroyed off the lock, later.
    std::shared_ptr<grpc::Alarm> alarm = std::move(it->second.alarm);
    state->waiters.erase(it);
    lock.unlock();
    expired(State::Expired(limit, deadline));
  });
}

size_t Readiness::pending() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->waiters.size();
}

}  // namespace osgv
