// Tells the driver when a process it does not necessarily own exits: the
// monitors it started (its children) and, after a driver restart, monitors
// and sandboxes adopted from a previous run (not its children). One thread
// polls a pidfd per process, so watching costs no thread per sandbox.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <thread>

namespace osgv {

class ExitWatcher {
 public:
  using Callback = std::function<void()>;

  ExitWatcher();
  ~ExitWatcher();

  // Runs `on_exit` once, on the watcher thread, after `pid` has exited (at
  // once if it already has). A child of ours is reaped first.
  void Watch(int pid, Callback on_exit);
  void Stop();

 private:
  void Loop();

  std::mutex mu_;
  std::map<int, std::pair<int, Callback>> watched_;  // pidfd -> (pid, callback)
  int wake_fd_ = -1;  // eventfd that interrupts poll() when the set changes
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace osgv
