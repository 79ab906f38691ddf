#include "driver/readiness.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace osgv {

Readiness::Readiness(std::chrono::milliseconds bound) : bound_(bound) {}

Readiness::~Readiness() {
  std::thread expirer;
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
    waiters_.clear();
    expirer = std::move(expirer_);
  }
  cv_.notify_all();
  if (expirer.joinable()) expirer.join();
}

Deadline Readiness::Limit(Deadline deadline) const {
  return std::min(deadline, std::chrono::system_clock::now() + bound_);
}

grpc::Status Readiness::Expired(Deadline limit, Deadline deadline) {
  if (limit == deadline) {
    return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                        "driver is still recovering its sandboxes; the call's deadline passed");
  }
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, "driver is still recovering its sandboxes");
}

void Readiness::SetReady() {
  std::map<uint64_t, Waiter> waiters;
  std::thread expirer;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ready_ = true;
    waiters.swap(waiters_);
    expirer = std::move(expirer_);
  }
  cv_.notify_all();
  if (expirer.joinable()) expirer.join();
  // Outside the lock: a continuation opens a watch, which may call back.
  for (auto& [id, w] : waiters) w.then(grpc::Status::OK);
}

grpc::Status Readiness::Await(Deadline deadline) {
  const Deadline limit = Limit(deadline);
  std::unique_lock<std::mutex> lock(mu_);
  if (cv_.wait_until(lock, limit, [this] { return ready_; })) return grpc::Status::OK;
  return Expired(limit, deadline);
}

void Readiness::WhenReady(Deadline deadline, Continuation then) {
  const Deadline limit = Limit(deadline);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!ready_) {
      waiters_[next_id_++] = Waiter{limit, deadline, std::move(then)};
      if (!expirer_.joinable()) expirer_ = std::thread([this] { EndExpired(); });
      cv_.notify_all();
      return;
    }
  }
  then(grpc::Status::OK);
}

void Readiness::EndExpired() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!ready_ && !closing_) {
    if (waiters_.empty()) {
      cv_.wait(lock, [this] { return ready_ || closing_ || !waiters_.empty(); });
      continue;
    }
    const auto now = std::chrono::system_clock::now();
    Deadline earliest = Deadline::max();
    std::vector<Waiter> expired;
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (it->second.limit <= now) {
        expired.push_back(std::move(it->second));
        it = waiters_.erase(it);
      } else {
        earliest = std::min(earliest, it->second.limit);
        ++it;
      }
    }
    if (expired.empty()) {
      cv_.wait_until(lock, earliest);
      continue;
    }
    lock.unlock();
    for (auto& w : expired) w.then(Expired(w.limit, w.deadline));
    lock.lock();
  }
}

size_t Readiness::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return waiters_.size();
}

}  // namespace osgv
