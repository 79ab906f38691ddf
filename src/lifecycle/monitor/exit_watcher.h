// Tells the driver when a process it does not necessarily own exits: the
// monitors it started (its children) and, after a driver restart, monitors
// and sandboxes adopted from a previous run (not its children). One thread
// polls a pidfd per process, so watching costs no thread per sandbox.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace osgv {

// A handle on one process that can wait for its end without polling:
// opened while the process surely lives, so a later reuse of its pid can
// never be mistaken for it.
class ProcessHandle {
 public:
  explicit ProcessHandle(int pid);
  ~ProcessHandle();
  ProcessHandle(const ProcessHandle&) = delete;
  ProcessHandle& operator=(const ProcessHandle&) = delete;

  bool valid() const { return fd_ >= 0; }
  // true once the process has ended (at once if it already had); false on
  // timeout or without a valid handle.
  bool WaitForExit(std::chrono::milliseconds timeout) const;

 private:
  int fd_ = -1;
};

class ExitWatcher {
 public:
  using Callback = std::function<void()>;

  ExitWatcher();
  ~ExitWatcher();

  // Runs `on_exit` once, on the watcher thread, after `pid` has exited (at
  // once if it already has). A child of ours is reaped first.
  void Watch(int pid, Callback on_exit);
  // Ends the watcher thread; no callback runs from then on, and a later
  // Watch is ignored. Safe against Watch calls from other threads.
  void Stop();

 private:
  void Loop();

  std::mutex mu_;
  std::map<int, std::pair<int, Callback>> watched_;  // pidfd -> (pid, callback)
  std::vector<Callback> gone_;  // of processes that had ended when watched
  int wake_fd_ = -1;  // eventfd that interrupts poll() when the set changes
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace osgv
