#include "lifecycle/events/event_bus.h"

#include <algorithm>

namespace osgv {

bool Subscription::TryPop(WatchEvent* out) {
  std::lock_guard<std::mutex> lock(mu_);
  if (queue_.empty()) return false;
  *out = std::move(queue_.front());
  queue_.pop_front();
  return true;
}

bool Subscription::overflowed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return overflowed_;
}

bool Subscription::closed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_;
}

void Subscription::SetNotify(std::function<void()> notify) {
  std::lock_guard<std::mutex> lock(mu_);
  notify_ = std::move(notify);
}

void Subscription::Close() {
  std::function<void()> notify;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;
    closed_ = true;
    notify = notify_;
  }
  if (notify) notify();
}

bool Subscription::Push(const WatchEvent& event) {
  std::function<void()> notify;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return false;
    if (queue_.size() >= capacity_) {
      overflowed_ = true;
      closed_ = true;
      queue_.clear();
    } else {
      queue_.push_back(event);
    }
    notify = notify_;
  }
  if (notify) notify();
  std::lock_guard<std::mutex> lock(mu_);
  return !closed_;
}

std::shared_ptr<Subscription> EventBus::Subscribe() {
  auto sub = std::make_shared<Subscription>(capacity_);
  std::lock_guard<std::mutex> lock(mu_);
  subs_.push_back(sub);
  return sub;
}

void EventBus::Publish(const WatchEvent& event) {
  std::vector<std::shared_ptr<Subscription>> subs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    subs = subs_;
  }
  std::vector<Subscription*> dead;
  for (const auto& s : subs) {
    if (!s->Push(event)) dead.push_back(s.get());
  }
  if (dead.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  std::erase_if(subs_, [&](const std::shared_ptr<Subscription>& s) {
    return std::find(dead.begin(), dead.end(), s.get()) != dead.end();
  });
}

void EventBus::CloseAll() {
  std::vector<std::shared_ptr<Subscription>> subs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    subs.swap(subs_);
  }
  for (const auto& s : subs) s->Close();
}

size_t EventBus::subscriber_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return subs_.size();
}

}  // namespace osgv
