// Bounded execution: with a runsc (or a monitor launch) that hangs until the
// test releases it, every call answers by its deadline, with
// DEADLINE_EXCEEDED or its answer, and the operation goes on in its queue;
// Shutdown finishes within its bound. Threads meet at latches (the fakes'
// WaitHanging/WaitCalls, the event log); the only clock in play is the
// deadline under test, checked with a margin of seconds.
#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <string>

#include "unit/manager_fixture.h"

namespace osgv {
namespace {

using namespace osgv::testing;  // NOLINT: fixture builders read as a DSL
using Fixture = ManagerFixture;
using SteadyClock = std::chrono::steady_clock;

constexpr auto kDeadline = std::chrono::milliseconds(300);
// How late an answer may come and still count as "by the deadline": far
// beyond any scheduling delay, far below "never".
constexpr auto kMargin = std::chrono::seconds(5);

Deadline Soon() { return std::chrono::system_clock::now() + kDeadline; }

// Runs `call` on a thread of its own and waits for its answer at most
// kDeadline + kMargin. A call that does not answer fails the test; the
// hangs are released first so that the test still ends.
template <typename Call>
auto AnsweredInTime(Fixture& f, Call call) {
  auto answer = std::async(std::launch::async, call);
  const bool in_time = answer.wait_for(kDeadline + kMargin) == std::future_status::ready;
  if (!in_time) {
    f.runner.Release();
    f.launcher.Unblock();
  }
  CHECK(in_time);
  return answer.get();
}

TEST_CASE("Deadline: Stop with a hung checkpoint answers DEADLINE_EXCEEDED and goes on",
          "[manager][deadline]") {
  Fixture f;
  f.CreateRunning("sb-1", "alpha");
  f.ScriptCheckpointOk(/*kill_sandbox=*/true);
  f.runner.Hang("checkpoint");

  auto st = AnsweredInTime(f, [&] { return f.M().Stop("sb-1", "", Soon()); });
  CHECK(absl::IsDeadlineExceeded(st));
  CHECK_THAT(Msg(st), Catch::Contains("StopSandbox") && Catch::Contains("GetSandbox"));
  REQUIRE(f.runner.WaitHanging(1));

  // Get and List answer from memory while the checkpoint hangs.
  auto got = AnsweredInTime(f, [&] { return f.M().Get("sb-1", ""); });
  REQUIRE(got.ok());
  CHECK(got->phase == phase::kStopping);
  auto listed = AnsweredInTime(f, [&] { return f.M().List(); });
  CHECK(listed.size() == 1);

  // A retry while it still runs waits for the same Stop, not a second one.
  auto retry = AnsweredInTime(f, [&] { return f.M().Stop("sb-1", "", Soon()); });
  CHECK(absl::IsDeadlineExceeded(retry));

  f.runner.Release();
  REQUIRE(f.WaitPhase("sb-1", phase::kStopped));
  CHECK(f.Rec("sb-1").reason == reason::kCheckpointed);
  CHECK(f.runner.CountOf("checkpoint") == 1);
  auto again = AnsweredInTime(f, [&] { return f.M().Stop("sb-1", "", Soon()); });
  CHECK(again.ok());
}

TEST_CASE("Deadline: Start with a hung restore answers DEADLINE_EXCEEDED and goes on",
          "[manager][deadline]") {
  Fixture f;
  f.CreateRunning("sb-1", "alpha");
  f.StopWithCheckpoint("sb-1");
  const size_t launches = f.launcher.call_count();
  f.launcher.Block();  // the monitor's `runsc restore` does not report back

  auto st = AnsweredInTime(f, [&] { return f.M().Start("sb-1", "", Soon()); });
  CHECK(absl::IsDeadlineExceeded(st));
  REQUIRE(f.launcher.WaitCalls(launches + 1));
  auto got = AnsweredInTime(f, [&] { return f.M().Get("sb-1", ""); });
  REQUIRE(got.ok());
  CHECK(got->phase == phase::kStarting);

  f.launcher.Unblock();
  REQUIRE(f.WaitPhase("sb-1", phase::kRunning));
  auto again = AnsweredInTime(f, [&] { return f.M().Start("sb-1", "", Soon()); });
  CHECK(again.ok());
}

TEST_CASE("Deadline: Delete with a hung runsc delete answers DEADLINE_EXCEEDED and goes on",
          "[manager][deadline]") {
  Fixture f;
  f.CreateRunning("sb-1", "alpha");
  f.runner.Hang("delete");

  auto deleted = AnsweredInTime(f, [&] { return f.M().Delete("sb-1", "", Soon()); });
  CHECK(absl::IsDeadlineExceeded(deleted.status()));
  REQUIRE(f.runner.WaitHanging(1));
  auto got = AnsweredInTime(f, [&] { return f.M().Get("sb-1", ""); });
  REQUIRE(got.ok());
  CHECK(got->status.deleting);
  // Joined: still the first Delete's answer to wait for.
  auto retry = AnsweredInTime(f, [&] { return f.M().Delete("sb-1", "", Soon()); });
  CHECK(absl::IsDeadlineExceeded(retry.status()));

  f.runner.Release();
  REQUIRE(Eventually([&] { return f.log->HasDeleted("sb-1"); }));
  CHECK_FALSE(f.HasRecord("sb-1"));
  auto after = AnsweredInTime(f, [&] { return f.M().Delete("sb-1", "", Soon()); });
  REQUIRE(after.ok());
  CHECK_FALSE(*after);  // nothing there any more
}

TEST_CASE("Deadline: Create, Get and List answer while provisioning hangs",
          "[manager][deadline]") {
  Fixture f;
  f.launcher.Block();
  auto st = AnsweredInTime(f, [&] { return f.M().Create(f.Req("sb-1", "alpha"), Soon()); });
  CHECK(st.ok());
  REQUIRE(f.launcher.WaitCalls(1));
  auto got = AnsweredInTime(f, [&] { return f.M().Get("", "alpha"); });
  REQUIRE(got.ok());
  CHECK(got->phase == phase::kProvisioning);
  CHECK(AnsweredInTime(f, [&] { return f.M().List(); }).size() == 1);
  // A Stop queued behind the provisioning gives up at its deadline, and
  // checkpoints the sandbox once it runs.
  f.ScriptCheckpointOk(/*kill_sandbox=*/true);
  auto stop = AnsweredInTime(f, [&] { return f.M().Stop("sb-1", "", Soon()); });
  CHECK(absl::IsDeadlineExceeded(stop));
  f.launcher.Unblock();
  REQUIRE(f.WaitPhase("sb-1", phase::kStopped));
  CHECK(f.Rec("sb-1").reason == reason::kCheckpointed);
}

TEST_CASE("Deadline: a deadline already passed changes nothing", "[manager][deadline]") {
  Fixture f;
  const Deadline past = std::chrono::system_clock::now() - std::chrono::seconds(1);
  CHECK(absl::IsDeadlineExceeded(f.M().Create(f.Req("sb-1", "alpha"), past)));
  CHECK_FALSE(f.HasRecord("sb-1"));
  f.CreateRunning("sb-2", "beta");
  CHECK(absl::IsDeadlineExceeded(f.M().Stop("sb-2", "", past)));
  CHECK(absl::IsDeadlineExceeded(f.M().Delete("sb-2", "", past).status()));
  CHECK(f.Phase("sb-2") == phase::kRunning);
  CHECK(f.runner.CountOf("checkpoint") == 0);
}

TEST_CASE("Deadline: one sandbox's hung operation never holds up another's",
          "[manager][deadline]") {
  Fixture f;
  f.CreateRunning("sb-1", "alpha");
  f.CreateRunning("sb-2", "beta");
  f.ScriptCheckpointOk(/*kill_sandbox=*/true);
  f.runner.Hang("checkpoint");
  auto hung = AnsweredInTime(f, [&] { return f.M().Stop("sb-1", "", Soon()); });
  CHECK(absl::IsDeadlineExceeded(hung));
  REQUIRE(f.runner.WaitHanging(1));

  auto deleted = AnsweredInTime(f, [&] { return f.M().Delete("sb-2", "", Soon()); });
  REQUIRE(deleted.ok());
  CHECK(*deleted);
  f.runner.Release();
  REQUIRE(f.WaitPhase("sb-1", phase::kStopped));
}

TEST_CASE("Shutdown: a hung command is killed and shutdown ends within its bound",
          "[manager][deadline][shutdown]") {
  Fixture f;
  f.CreateRunning("sb-1", "alpha");
  f.ScriptCheckpointOk(/*kill_sandbox=*/true);
  f.runner.Hang("checkpoint");
  // A caller without a deadline, and one queued behind it.
  auto stop = std::async(std::launch::async, [&] { return f.M().Stop("sb-1", ""); });
  REQUIRE(f.runner.WaitHanging(1));
  auto queued = std::async(std::launch::async, [&] { return f.M().Delete("sb-1", ""); });
  REQUIRE(Eventually([&] { return f.Snap("sb-1").status.deleting; }));

  const auto bound = std::chrono::milliseconds(1500);
  auto t0 = SteadyClock::now();
  const bool finished = AnsweredInTime(f, [&] { return f.M().Shutdown(bound); });
  CHECK(SteadyClock::now() - t0 < bound + kMargin);
  CHECK(finished);
  CHECK(f.runner.abandoned());
  // Both callers have their answer: the killed checkpoint's, and "never
  // began" for the Delete that was still queued.
  REQUIRE(stop.wait_for(kMargin) == std::future_status::ready);
  CHECK(absl::IsCancelled(stop.get()));
  REQUIRE(queued.wait_for(kMargin) == std::future_status::ready);
  auto never = queued.get();
  CHECK(absl::IsUnavailable(never.status()));
  // The record is left for recovery: an interrupted Stop, not deleted.
  CHECK(f.Phase("sb-1") == phase::kDeleting);
  CHECK(f.HasRecord("sb-1"));
}

TEST_CASE("Shutdown: an operation stuck outside any command does not hold it past its bound",
          "[manager][deadline][shutdown]") {
  Fixture f;
  f.CreateRunning("sb-1", "alpha");
  f.StopWithCheckpoint("sb-1");
  const size_t launches = f.launcher.call_count();
  f.launcher.Block();
  auto start = std::async(std::launch::async, [&] { return f.M().Start("sb-1", ""); });
  REQUIRE(f.launcher.WaitCalls(launches + 1));

  const auto bound = std::chrono::milliseconds(1000);
  auto t0 = SteadyClock::now();
  const bool finished = AnsweredInTime(f, [&] { return f.M().Shutdown(bound); });
  CHECK(SteadyClock::now() - t0 < bound + kMargin);
  CHECK_FALSE(finished);  // the caller must exit the process instead of waiting
  REQUIRE(start.wait_for(kMargin) == std::future_status::ready);
  CHECK(absl::IsUnavailable(start.get()));
  CHECK(absl::IsUnavailable(f.M().Stop("sb-1", "", Soon())));
  f.launcher.Unblock();  // lets the fixture destroy the manager
}

}  // namespace
}  // namespace osgv
