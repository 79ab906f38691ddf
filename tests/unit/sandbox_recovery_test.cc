// Recover's executor: every sandbox recovers in its own queue on the
// operation workers, so one that waits (for a launch or a save a crash
// interrupted) holds up no other, and one that fails stops no other. The
// shared steps (runsc list before, orphan sweep and re-provisioning after)
// run once. What each sandbox's recovery decides is recovery_plan_test.cc;
// what it does, sandbox_manager_test.cc ("Recover: ..."). Threads meet at
// latches (the runner's WaitHanging), never at sleeps.
#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "lifecycle/monitor/monitor.h"
#include "unit/manager_fixture.h"

namespace osgv {
namespace {

using namespace osgv::testing;  // NOLINT: fixture builders read as a DSL
using Fixture = ManagerFixture;

// A start the crash interrupted, whose monitor still runs (recognised by
// its directory and argv): recovery waits for its launch with `runsc state`.
struct InterruptedStart {
  SandboxRecord record;
  std::unique_ptr<ChildProcess> monitor;
};

InterruptedStart PrefillInterruptedStart(Fixture& f, const std::string& id,
                                         const std::string& name) {
  InterruptedStart s;
  s.record = f.Prefill(id, name, phase::kStarting, reason::kCheckpointed);
  const std::string dir = f.layout.sandbox_dir(s.record.runsc_id);
  s.monitor = std::make_unique<ChildProcess>(
      std::vector<std::string>{"sh", "-c", "sleep 100000; :", "monitor"}, dir);
  REQUIRE(WriteFileAtomic(dir + "/monitor.pid", std::to_string(s.monitor->pid()) + "\n", 0600)
              .ok());
  // Until it has exec'd, its argv and cwd are still the test's.
  REQUIRE(Eventually([&] { return IsMonitorOf(s.monitor->pid(), dir); }));
  return s;
}

TEST_CASE("Recover: sandboxes recover at the same time, each in its own queue",
          "[manager][recovery]") {
  Fixture f;
  auto a = PrefillInterruptedStart(f, "sb-1", "alpha");
  auto b = PrefillInterruptedStart(f, "sb-2", "beta");
  ChildProcess sandbox;
  f.runner.Script("state", FakeRunner::Ok(HookedRunner::StateJson("x", "running", sandbox.pid())));
  f.runner.Hang("state");

  auto recovered = std::async(std::launch::async, [&] { return f.M().Recover(); });
  // Both wait in `runsc state` at once: one after the other, the second
  // could not get there while the first still hangs.
  const bool both = f.runner.WaitHanging(2);
  f.runner.Release();
  CHECK(both);
  REQUIRE(recovered.get().ok());
  CHECK(f.Phase("sb-1") == phase::kRunning);
  CHECK(f.Phase("sb-2") == phase::kRunning);
  CHECK(f.runner.CountOf("list") == 1);  // the shared steps ran once
  f.CheckVocabulary();
}

TEST_CASE("Recover: one sandbox's failed recovery stops no other's", "[manager][recovery]") {
  Fixture f;
  f.Prefill("sb-1", "alpha", phase::kRunning);  // container gone: SandboxLost
  f.Prefill("sb-2", "beta", phase::kRunning);   // the same
  auto orphan = Fixture::NewId();
  REQUIRE(MakeDirs(f.layout.sandbox_dir(orphan), 0700).ok());
  // sb-1's record cannot be written; sb-2's can.
  f.FaultyStore().FailUpdates(absl::DataLossError("disk: I/O error"),
                              [](const SandboxRecord& r) { return r.id == "sb-1"; });

  auto st = f.M().Recover();
  CHECK(absl::IsDataLoss(st));  // the latched commit error fails the start-up
  CHECK(f.Phase("sb-1") == phase::kRunning);
  CHECK(f.Phase("sb-2") == phase::kFailed);
  CHECK(f.Rec("sb-2").reason == reason::kSandboxLost);
  CHECK_FALSE(fs::exists(f.layout.sandbox_dir(orphan)));  // the sweep still ran
}

TEST_CASE("Recover: an interrupted provisioning is redone in its queue after the sweep",
          "[manager][recovery]") {
  Fixture f;
  f.Prefill("sb-1", "alpha", phase::kProvisioning, reason::kStarting);
  f.Prefill("sb-2", "beta", phase::kProvisioning, reason::kStarting);
  f.Prefill("sb-3", "gamma", phase::kRunning);  // lost
  REQUIRE(f.M().Recover().ok());
  REQUIRE(f.WaitPhase("sb-1", phase::kRunning));
  REQUIRE(f.WaitPhase("sb-2", phase::kRunning));
  CHECK(f.Phase("sb-3") == phase::kFailed);
  CHECK(f.launcher.call_count() == 2);
  f.CheckVocabulary();
}

}  // namespace
}  // namespace osgv
