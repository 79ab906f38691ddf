#include "lifecycle/monitor/exit_watcher.h"

#include <poll.h>
#include <cerrno>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vector>

namespace osgv {

ProcessHandle::ProcessHandle(int pid) {
  if (pid > 0) fd_ = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
}

ProcessHandle::~ProcessHandle() {
  if (fd_ >= 0) close(fd_);
}

bool ProcessHandle::WaitForExit(std::chrono::milliseconds timeout) const {
  if (fd_ < 0) return false;
  pollfd p{fd_, POLLIN, 0};
  int r;
  do {
    r = poll(&p, 1, static_cast<int>(timeout.count()));
  } while (r < 0 && errno == EINTR);
  return r > 0;
}

ExitWatcher::ExitWatcher() {
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  thread_ = std::thread([this] { Loop(); });
}

ExitWatcher::~ExitWatcher() { Stop(); }

void ExitWatcher::Stop() {
  uint64_t one = 1;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    (void)!write(wake_fd_, &one, sizeof one);
  }
  if (thread_.joinable()) thread_.join();
  std::map<int, std::pair<int, Callback>> watched;
  {
    // A Watch from a thread still running (an operation a bounded shutdown
    // left behind) finds stopping_ set and keeps out.
    std::lock_guard<std::mutex> lock(mu_);
    watched.swap(watched_);
    gone_.clear();
  }
  for (auto& [fd, entry] : watched) close(fd);
  close(wake_fd_);
}

void ExitWatcher::Watch(int pid, Callback on_exit) {
  int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) {  // nobody would report it
    if (fd >= 0) close(fd);
    return;
  }
  if (fd < 0) {
    // Already gone (ESRCH): reported from the watcher thread all the same,
    // never from the caller's, which may hold its own locks.
    waitpid(pid, nullptr, WNOHANG);
    gone_.push_back(std::move(on_exit));
  } else {
    watched_[fd] = {pid, std::move(on_exit)};
  }
  uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof one);
}

void ExitWatcher::Loop() {
  while (true) {
    std::vector<pollfd> fds;
    std::vector<Callback> gone;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      gone.swap(gone_);
      fds.push_back({wake_fd_, POLLIN, 0});
      for (const auto& [fd, entry] : watched_) fds.push_back({fd, POLLIN, 0});
    }
    for (auto& on_exit : gone) on_exit();
    if (poll(fds.data(), fds.size(), -1) < 0) continue;
    if (fds[0].revents) {
      uint64_t v;
      (void)!read(wake_fd_, &v, sizeof v);
    }
    for (size_t i = 1; i < fds.size(); ++i) {
      if (!fds[i].revents) continue;
      std::pair<int, Callback> entry;
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = watched_.find(fds[i].fd);
        if (it == watched_.end()) continue;
        entry = std::move(it->second);
        watched_.erase(it);
      }
      close(fds[i].fd);
      waitpid(entry.first, nullptr, WNOHANG);  // reap if it is our child
      entry.second();
    }
  }
}

}  // namespace osgv
