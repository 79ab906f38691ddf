// SandboxMetrics: phases, operation durations, checkpoints and cold boots,
// counted from what is published on the event bus, as SandboxManager
// publishes it (snapshots made by SnapshotOf from a record).
#include "metrics/sandbox_metrics.h"

#include <catch2/catch.hpp>

#include "lifecycle/checkpoint/cold_start.h"
#include "lifecycle/sandbox_status.h"
#include "unit/metrics_reader.h"

namespace osgv {
namespace {

using namespace osgv::testing;  // NOLINT
using std::chrono::milliseconds;

struct Fixture {
  prometheus::Registry registry;
  std::chrono::steady_clock::time_point now{};
  EventBus bus{64};
  SandboxMetrics metrics{registry, [this] { return now; }};

  void Follow(const std::vector<SandboxSnapshot>& existing = {}) {
    metrics.Follow(bus.Subscribe(), existing);
  }
  void Publish(const std::string& id, SandboxPhase phase, const std::string& why = "") {
    SandboxRecord r;
    r.id = id;
    r.name = "name-" + id;
    r.phase = phase;
    r.reason = why;
    WatchEvent ev;
    ev.kind = WatchEvent::Kind::kSandbox;
    ev.sandbox = SnapshotOf(r);
    bus.Publish(ev);
  }
  void Deleted(const std::string& id) {
    WatchEvent ev;
    ev.kind = WatchEvent::Kind::kDeleted;
    ev.sandbox_id = id;
    bus.Publish(ev);
  }
  void Event(const std::string& reason, std::map<std::string, std::string> metadata) {
    WatchEvent ev;
    ev.kind = WatchEvent::Kind::kPlatformEvent;
    ev.sandbox_id = "sb";
    ev.event.reason = reason;
    ev.event.metadata = std::move(metadata);
    bus.Publish(ev);
  }
  void Wait(int ms) { now += milliseconds(ms); }
  double Phase(const std::string& p) {
    return SampleValue(registry, "osgv_sandboxes", {{"phase", p}}).value_or(-1);
  }
  HistogramSample Duration(const std::string& op, const std::string& outcome) {
    return SampleHistogram(registry, "osgv_sandbox_" + op + "_duration_seconds",
                           {{"outcome", outcome}});
  }
};

TEST_CASE("SandboxMetrics: the phase gauge follows every sandbox from the first snapshot",
          "[metrics]") {
  Fixture f;
  SandboxRecord stopped;
  stopped.id = "old";
  stopped.phase = phase::kStopped;
  f.Follow({SnapshotOf(stopped)});
  CHECK(f.Phase("stopped") == 1);
  CHECK(f.Phase("running") == 0);  // every phase is there, at zero

  f.Publish("a", phase::kProvisioning);
  f.Publish("b", phase::kProvisioning);
  CHECK(f.Phase("provisioning") == 2);
  f.Publish("a", phase::kRunning);
  f.Publish("a", phase::kRunning);  // same phase, new detail: no double count
  CHECK(f.Phase("provisioning") == 1);
  CHECK(f.Phase("running") == 1);
  f.Publish("b", phase::kFailed, reason::kImagePullFailed);
  CHECK(f.Phase("failed") == 1);
  f.Publish("old", phase::kDeleting);
  f.Deleted("old");
  f.Deleted("never-seen");
  CHECK(f.Phase("stopped") == 0);
  CHECK(f.Phase("deleting") == 0);
  CHECK(f.Phase("running") == 1);
  // No series is labelled with a sandbox id or name.
  for (const auto& family : f.registry.Collect()) {
    for (const auto& metric : family.metric) {
      for (const auto& label : metric.label) {
        CHECK(label.value.find("name-") == std::string::npos);
        CHECK(label.value != "a");
      }
    }
  }
}

TEST_CASE("SandboxMetrics: create stop start and delete durations by outcome", "[metrics]") {
  Fixture f;
  f.Follow();
  f.Publish("a", phase::kProvisioning);
  f.Wait(1500);
  f.Publish("a", phase::kRunning);
  CHECK(f.Duration("create", "ok").count == 1);
  CHECK(f.Duration("create", "ok").sum == Approx(1.5));

  f.Publish("b", phase::kProvisioning);
  f.Wait(200);
  f.Publish("b", phase::kFailed, reason::kImagePullFailed);
  CHECK(f.Duration("create", "error").count == 1);

  f.Wait(10000);  // time spent running is nobody's duration
  f.Publish("a", phase::kStopping);
  f.Wait(800);
  f.Publish("a", phase::kStopped, reason::kCheckpointed);
  CHECK(f.Duration("stop", "ok").count == 1);
  CHECK(f.Duration("stop", "ok").sum == Approx(0.8));

  f.Publish("a", phase::kStarting);
  f.Wait(300);
  f.Publish("a", phase::kStopped, reason::kCheckpointed);  // the start failed
  CHECK(f.Duration("start", "error").count == 1);
  f.Publish("a", phase::kStarting);
  f.Wait(400);
  f.Publish("a", phase::kRunning);
  CHECK(f.Duration("start", "ok").count == 1);
  CHECK(f.Duration("start", "ok").sum == Approx(0.4));

  f.Publish("a", phase::kStopping);
  f.Publish("a", phase::kRunning);  // a failed checkpoint, still running
  CHECK(f.Duration("stop", "error").count == 1);
  f.Publish("a", phase::kStopping);
  f.Publish("a", phase::kStopped, reason::kStoppedWithoutMemory);
  CHECK(f.Duration("stop", "without_memory").count == 1);
  CHECK(f.Duration("stop", "ok").count == 1);

  f.Publish("a", phase::kDeleting);
  f.Wait(250);
  f.Deleted("a");
  CHECK(f.Duration("delete", "ok").count == 1);
  CHECK(f.Duration("delete", "ok").sum == Approx(0.25));
}

TEST_CASE("SandboxMetrics: an operation under way before Follow is not timed", "[metrics]") {
  Fixture f;
  SandboxRecord r;
  r.id = "recovered";
  r.phase = phase::kProvisioning;  // re-provisioned after a restart
  f.Follow({SnapshotOf(r)});
  f.Wait(5000);
  f.Publish("recovered", phase::kRunning);
  CHECK(f.Duration("create", "ok").count == 0);
  CHECK(f.Phase("running") == 1);
  CHECK(f.Phase("provisioning") == 0);
}

TEST_CASE("SandboxMetrics: checkpoint image bytes, write and seal time from the Checkpointed event",
          "[metrics]") {
  Fixture f;
  f.Follow();
  f.Event(reason::kCheckpointed, {{"openshell.gvisor.checkpoint_bytes", "52428800"},
                                  {"openshell.gvisor.checkpoint_ms", "1250"},
                                  {"openshell.gvisor.seal_ms", "300"},
                                  {"openshell.gvisor.compression", "flate"}});
  f.Event("Restored", {{"openshell.gvisor.checkpoint_bytes", "52428800"}});  // not a new image
  auto bytes = SampleHistogram(f.registry, "osgv_checkpoint_image_bytes");
  CHECK(bytes.count == 1);
  CHECK(bytes.sum == 52428800);
  auto seconds = SampleHistogram(f.registry, "osgv_checkpoint_duration_seconds");
  CHECK(seconds.count == 1);
  CHECK(seconds.sum == Approx(1.25));
  auto seal = SampleHistogram(f.registry, "osgv_checkpoint_seal_duration_seconds");
  CHECK(seal.count == 1);
  CHECK(seal.sum == Approx(0.3));
}

TEST_CASE("SandboxMetrics: cold boots are counted by a bounded reason", "[metrics]") {
  Fixture f;
  f.Follow();
  auto cold = [&](const std::string& why) {
    return SampleValue(f.registry, "osgv_cold_boots_total", {{"reason", why}}).value_or(-1);
  };
  CHECK(cold(cold_start::kRestoreFailed) == 0);
  f.Event("ColdStart", {{cold_start::kMetadataKey, cold_start::kRestoreFailed}});
  f.Event("ColdStart", {{cold_start::kMetadataKey, cold_start::kNoCheckpoint}});
  f.Event("ColdStart", {{cold_start::kMetadataKey, cold_start::kNoCheckpoint}});
  f.Event("ColdStart", {{cold_start::kMetadataKey, "something /new/ and unbounded"}});
  f.Event("ColdStart", {});
  CHECK(cold(cold_start::kRestoreFailed) == 1);
  CHECK(cold(cold_start::kNoCheckpoint) == 2);
  CHECK(cold(cold_start::kCheckpointUnusable) == 0);
  CHECK(cold("unknown") == 2);
}

TEST_CASE("cold_start::ReasonFor names why a start could not restore", "[metrics]") {
  CHECK(std::string(cold_start::ReasonFor(false, false)) == cold_start::kNoCheckpoint);
  CHECK(std::string(cold_start::ReasonFor(true, false)) == cold_start::kCheckpointUnusable);
  CHECK(std::string(cold_start::ReasonFor(true, true)) == cold_start::kRestoreFailed);
}

}  // namespace
}  // namespace osgv
