// ExitWatcher: every exit is reported once, from the watcher's own thread
// (never the caller's, which may hold its locks), and nothing after Stop.
#include "lifecycle/monitor/exit_watcher.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <mutex>
#include <thread>

#include "unit/gate.h"
#include "unit/manager_fakes.h"

namespace osgv {
namespace {

using testing::Gate;

// Records the thread a callback ran on.
struct Report {
  Gate done;
  std::mutex mu;
  std::thread::id thread;
  std::atomic<int> calls{0};
  ExitWatcher::Callback Callback() {
    return [this] {
      {
        std::lock_guard<std::mutex> lock(mu);
        thread = std::this_thread::get_id();
      }
      ++calls;
      done.Open();
    };
  }
  std::thread::id Thread() {
    std::lock_guard<std::mutex> lock(mu);
    return thread;
  }
};

TEST_CASE("ExitWatcher: a child's exit is reported once, from the watcher thread",
          "[exit_watcher]") {
  ExitWatcher watcher;
  Report report;
  int pid = testing::SpawnSleeper();
  REQUIRE(pid > 0);
  watcher.Watch(pid, report.Callback());
  kill(pid, SIGKILL);  // reaped by the watcher
  REQUIRE(report.done.Wait());
  CHECK(report.Thread() != std::this_thread::get_id());
  watcher.Stop();
  CHECK(report.calls == 1);
}

TEST_CASE("ExitWatcher: a process already gone is reported from the watcher thread too",
          "[exit_watcher]") {
  ExitWatcher watcher;
  Report report;
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  REQUIRE(pid > 0);
  REQUIRE(waitpid(pid, nullptr, 0) == pid);  // gone: no pidfd can be opened
  watcher.Watch(pid, report.Callback());
  REQUIRE(report.done.Wait());
  CHECK(report.Thread() != std::this_thread::get_id());
  CHECK(report.calls == 1);
}

TEST_CASE("ExitWatcher: after Stop a Watch is ignored", "[exit_watcher]") {
  ExitWatcher watcher;
  watcher.Stop();
  Report report;
  int pid = testing::SpawnSleeper();
  watcher.Watch(pid, report.Callback());
  testing::KillAndReap(pid);
  // The watcher thread is gone, so nothing can run the callback later.
  CHECK(report.calls == 0);
}

}  // namespace
}  // namespace osgv
