// Fan-out of sandbox events to any number of WatchSandboxes streams.
//
// Each subscription has a bounded queue. A watcher that falls behind by more
// than its capacity is not allowed to slow anyone down: its subscription is
// marked overflowed and closed, the stream ends with RESOURCE_EXHAUSTED, and
// the gateway (which reopens Watch after 2 s) starts again from a fresh full
// snapshot. Events are never silently dropped from a live stream.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "openshell_gvisor/sandbox.h"

namespace osgv {

class Subscription {
 public:
  explicit Subscription(size_t capacity) : capacity_(capacity) {}

  // Next queued event; false when the queue is empty.
  bool TryPop(WatchEvent* out);
  bool overflowed() const;
  bool closed() const;
  // `notify` runs (on the publisher's thread, outside any bus lock) whenever
  // an event was queued or the subscription closed. Pass {} to detach.
  void SetNotify(std::function<void()> notify);
  void Close();

 private:
  friend class EventBus;
  // Returns false if the subscription is (now) closed.
  bool Push(const WatchEvent& event);

  const size_t capacity_;
  mutable std::mutex mu_;
  std::deque<WatchEvent> queue_;
  bool overflowed_ = false;
  bool closed_ = false;
  std::function<void()> notify_;
};

class EventBus {
 public:
  explicit EventBus(size_t capacity) : capacity_(capacity) {}

  std::shared_ptr<Subscription> Subscribe();
  void Publish(const WatchEvent& event);
  // Ends every subscription (driver shutdown): streams finish cleanly.
  void CloseAll();
  size_t subscriber_count() const;

 private:
  const size_t capacity_;
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<Subscription>> subs_;
};

}  // namespace osgv
