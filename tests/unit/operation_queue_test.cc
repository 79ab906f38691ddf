// OperationQueue: one task at a time per key, in order; keys in parallel on
// a bounded pool; Close drops what has not started. Threads meet at gates,
// never at sleeps.
#include "lifecycle/operation_queue.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "unit/gate.h"

namespace osgv {
namespace {

using testing::Gate;
using Clock = OperationQueue::Clock;

Clock::time_point Far() { return Clock::now() + std::chrono::seconds(10); }

// Records the order tasks ran in.
struct Trace {
  std::mutex mu;
  std::vector<std::string> order;
  void Add(const std::string& s) {
    std::lock_guard<std::mutex> lock(mu);
    order.push_back(s);
  }
  std::vector<std::string> Get() {
    std::lock_guard<std::mutex> lock(mu);
    return order;
  }
};

TEST_CASE("OperationQueue: a key's tasks run one at a time, in order", "[operation_queue]") {
  OperationQueue q(4);
  Trace trace;
  Gate first_started, release_first, other_done;
  REQUIRE(q.Submit("a", [&] {
    first_started.Open();
    release_first.Wait();
    trace.Add("a1");
  }));
  REQUIRE(q.Submit("a", [&] { trace.Add("a2"); }));
  REQUIRE(first_started.Wait());
  // Another key runs meanwhile: a worker was free, and a2 still waits.
  REQUIRE(q.Submit("b", [&] {
    trace.Add("b");
    other_done.Open();
  }));
  REQUIRE(other_done.Wait());
  CHECK(trace.Get() == std::vector<std::string>{"b"});
  release_first.Open();
  REQUIRE(q.WaitUntilIdle(Far()));
  CHECK(trace.Get() == std::vector<std::string>{"b", "a1", "a2"});
}

TEST_CASE("OperationQueue: different keys run in parallel", "[operation_queue]") {
  OperationQueue q(2);
  Gate a_started, b_started;
  std::atomic<bool> a_saw_b{false};
  REQUIRE(q.Submit("a", [&] {
    a_started.Open();
    a_saw_b = b_started.Wait();  // would time out if b had to wait for a
  }));
  REQUIRE(a_started.Wait());
  REQUIRE(q.Submit("b", [&] { b_started.Open(); }));
  REQUIRE(q.WaitUntilIdle(Far()));
  CHECK(a_saw_b);
}

TEST_CASE("OperationQueue: at most `workers` tasks run at once", "[operation_queue]") {
  OperationQueue q(2);
  Gate release;
  std::atomic<int> running{0}, peak{0}, started{0};
  Gate two_started;
  for (const char* key : {"a", "b", "c", "d"}) {
    REQUIRE(q.Submit(key, [&] {
      int now = ++running;
      int p = peak.load();
      while (now > p && !peak.compare_exchange_weak(p, now)) {
      }
      if (++started == 2) two_started.Open();
      release.Wait();
      --running;
    }));
  }
  REQUIRE(two_started.Wait());
  release.Open();
  REQUIRE(q.WaitUntilIdle(Far()));
  CHECK(started == 4);
  CHECK(peak == 2);
}

TEST_CASE("OperationQueue: SubmitIfIdle refuses a key with work queued or running",
          "[operation_queue]") {
  OperationQueue q(2);
  Gate started, release;
  REQUIRE(q.Submit("a", [&] {
    started.Open();
    release.Wait();
  }));
  REQUIRE(started.Wait());
  std::atomic<int> ran{0};
  CHECK_FALSE(q.SubmitIfIdle("a", [&] { ++ran; }));
  CHECK(q.SubmitIfIdle("b", [&] { ++ran; }));
  release.Open();
  REQUIRE(q.WaitUntilIdle(Far()));
  CHECK(q.SubmitIfIdle("a", [&] { ++ran; }));
  REQUIRE(q.WaitUntilIdle(Far()));
  CHECK(ran == 2);
}

TEST_CASE("OperationQueue: a task may queue the next one of its key", "[operation_queue]") {
  OperationQueue q(1);
  Trace trace;
  std::atomic<bool> queued{false};  // no Catch assertion off the main thread
  REQUIRE(q.Submit("a", [&] {
    queued = q.Submit("a", [&] { trace.Add("second"); });
    trace.Add("first");
  }));
  REQUIRE(q.WaitUntilIdle(Far()));
  CHECK(queued);
  CHECK(trace.Get() == std::vector<std::string>{"first", "second"});
}

// Sets its flag when destroyed: a task that captured it is gone.
struct Tripwire {
  explicit Tripwire(std::atomic<bool>* flag) : flag_(flag) {}
  ~Tripwire() { *flag_ = true; }
  std::atomic<bool>* flag_;
};

TEST_CASE("OperationQueue: Close drops queued tasks unrun and lets the running one finish",
          "[operation_queue]") {
  OperationQueue q(1);
  Gate started, release;
  std::atomic<bool> finished{false}, dropped_ran{false}, dropped_destroyed{false};
  REQUIRE(q.Submit("a", [&] {
    started.Open();
    release.Wait();
    finished = true;
  }));
  auto wire = std::make_shared<Tripwire>(&dropped_destroyed);
  REQUIRE(q.Submit("a", [&, wire] { dropped_ran = true; }));
  wire.reset();
  REQUIRE(started.Wait());
  q.Close();
  CHECK(dropped_destroyed);
  CHECK_FALSE(q.Submit("b", [] {}));
  // Still running: an expired deadline answers at once.
  CHECK_FALSE(q.WaitUntilIdle(Clock::now()));
  release.Open();
  REQUIRE(q.WaitUntilIdle(Far()));
  CHECK(finished);
  CHECK_FALSE(dropped_ran);
}

}  // namespace
}  // namespace osgv
