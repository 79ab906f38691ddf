#include "lifecycle/operation_queue.h"

#include <utility>

namespace osgv {

OperationQueue::OperationQueue(size_t workers) : max_workers_(workers == 0 ? 1 : workers) {}

OperationQueue::~OperationQueue() {
  Close();
  for (auto& t : threads_) t.join();
}

bool OperationQueue::Submit(const std::string& key, Task task) {
  return Enqueue(key, std::move(task), /*only_if_idle=*/false);
}

bool OperationQueue::SubmitIfIdle(const std::string& key, Task task) {
  return Enqueue(key, std::move(task), /*only_if_idle=*/true);
}

bool OperationQueue::Enqueue(const std::string& key, Task task, bool only_if_idle) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return false;
    const bool running = running_.count(key) > 0;
    auto& waiting = queued_[key];
    if (only_if_idle && (running || !waiting.empty())) {
      if (waiting.empty()) queued_.erase(key);
      return false;
    }
    const bool was_waiting = !waiting.empty();
    waiting.push_back(std::move(task));
    // A key is ready once: a running key is made ready again by its worker.
    if (!running && !was_waiting) ready_.push_back(key);
    // Every ready key gets a worker of its own, up to the bound: an idle
    // one counts as soon as it is told, before it has woken.
    if (ready_.size() > idle_workers_ && threads_.size() < max_workers_) {
      threads_.emplace_back([this] { Work(); });
    }
    work_cv_.notify_one();
  }
  return true;
}

void OperationQueue::Work() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    ++idle_workers_;
    work_cv_.wait(lock, [this] { return closed_ || !ready_.empty(); });
    --idle_workers_;
    if (closed_) return;
    std::string key = std::move(ready_.front());
    ready_.pop_front();
    auto it = queued_.find(key);
    Task task = std::move(it->second.front());
    it->second.pop_front();
    if (it->second.empty()) queued_.erase(it);
    running_.insert(key);
    lock.unlock();
    task();
    task = nullptr;  // what it captured goes before the key is free again
    lock.lock();
    running_.erase(key);
    if (queued_.count(key)) ready_.push_back(key);  // this worker takes it, or another
    idle_cv_.notify_all();
  }
}

void OperationQueue::Close() {
  std::map<std::string, std::deque<Task>> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    dropped.swap(queued_);
    ready_.clear();
  }
  work_cv_.notify_all();
  // `dropped` is destroyed here, outside the lock: what the tasks captured
  // may call back into whoever submitted them.
}

bool OperationQueue::WaitUntilIdle(Clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  return idle_cv_.wait_until(lock, deadline,
                             [this] { return running_.empty() && queued_.empty(); });
}

}  // namespace osgv
