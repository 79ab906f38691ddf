// Serial operations per sandbox, run on a bounded pool of worker threads.
//
// Each key (a sandbox id) has a queue of tasks that run one at a time, in
// the order they were submitted; tasks of different keys run in parallel on
// at most `workers` threads. A slow task (a pull, a checkpoint) holds one
// worker and delays only the later tasks of its own key. The threads are
// started as work needs them and all end when the queue is destroyed:
// nothing is detached, so no task can outlive the object it works on.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace osgv {

class OperationQueue {
 public:
  using Task = std::function<void()>;
  using Clock = std::chrono::steady_clock;

  explicit OperationQueue(size_t workers);
  // Close(), then waits for the running tasks, however long they take.
  ~OperationQueue();
  OperationQueue(const OperationQueue&) = delete;
  OperationQueue& operator=(const OperationQueue&) = delete;

  // Queues `task` behind every earlier task of `key`. false (and `task` is
  // destroyed unrun) once the queue is closed.
  bool Submit(const std::string& key, Task task);
  // Queues `task` only when `key` has nothing queued or running.
  bool SubmitIfIdle(const std::string& key, Task task);

  // Takes no more tasks. The queued ones that have not started are
  // destroyed without running (whatever they capture learns so from its
  // destructor); the running ones go on.
  void Close();
  // Until no task runs, or `deadline`: true when none runs.
  bool WaitUntilIdle(Clock::time_point deadline);

 private:
  bool Enqueue(const std::string& key, Task task, bool only_if_idle);
  void Work();

  const size_t max_workers_;
  std::mutex mu_;
  std::condition_variable work_cv_;  // a key became ready, or closed
  std::condition_variable idle_cv_;  // a task ended
  std::map<std::string, std::deque<Task>> queued_;  // keys with tasks waiting
  std::deque<std::string> ready_;  // keys with tasks waiting and none running
  std::set<std::string> running_;  // keys whose task runs now
  size_t idle_workers_ = 0;
  bool closed_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace osgv
