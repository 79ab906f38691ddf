#include "metrics/sandbox_metrics.h"

#include <spdlog/spdlog.h>

#include "absl/strings/numbers.h"
#include "lifecycle/checkpoint/cold_start.h"
#include "lifecycle/sandbox_status.h"

namespace osgv {
namespace {

using Buckets = prometheus::Histogram::BucketBoundaries;

// A create with a cached image takes about a second, a first pull or a
// checkpoint of a large sandbox minutes.
const Buckets& OperationBuckets() {
  static const Buckets buckets = {0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600};
  return buckets;
}

// 1 MiB to 64 GiB, by powers of four.
const Buckets& ImageSizeBuckets() {
  static const Buckets buckets = [] {
    Buckets b;
    for (double v = 1 << 20; v <= 64.0 * (1ull << 30); v *= 4) b.push_back(v);
    return b;
  }();
  return buckets;
}

constexpr SandboxPhase kPhases[] = {phase::kProvisioning, phase::kRunning,  phase::kStopping,
                                   phase::kStopped,      phase::kStarting, phase::kDeleting,
                                   phase::kExited,       phase::kFailed};

prometheus::Family<prometheus::Histogram>& DurationFamily(prometheus::Registry& registry,
                                                          const std::string& op,
                                                          const std::string& help) {
  return prometheus::BuildHistogram()
      .Name("osgv_sandbox_" + op + "_duration_seconds")
      .Help(help)
      .Register(registry);
}

std::optional<double> MetadataNumber(const PlatformEvent& event, const std::string& key) {
  auto it = event.metadata.find(key);
  double value = 0;
  if (it == event.metadata.end() || !absl::SimpleAtod(it->second, &value)) return std::nullopt;
  return value;
}

// The Suspended condition's reason of a stopped snapshot.
std::string SuspendedReason(const SandboxSnapshot& s) {
  for (const Condition& c : s.status.conditions) {
    if (c.type == "Suspended") return c.reason;
  }
  return "";
}

}  // namespace

SandboxMetrics::SandboxMetrics(prometheus::Registry& registry, Clock now)
    : now_(std::move(now)),
      phases_(prometheus::BuildGauge()
                  .Name("osgv_sandboxes")
                  .Help("Sandboxes this driver holds, by lifecycle phase (provisioning, running, "
                        "stopping, stopped, starting, deleting, exited, failed)")
                  .Register(registry)),
      create_(DurationFamily(registry, "create",
                             "From CreateSandbox accepted to Ready (outcome ok) or to failed "
                             "(outcome error)")),
      stop_(DurationFamily(registry, "stop",
                           "A Stop, from checkpoint begun to stopped: outcome ok (memory kept), "
                           "without_memory (stopped, memory lost), error (still running)")),
      start_(DurationFamily(registry, "start",
                            "A Start, from begun to running (outcome ok, whether restored or "
                            "booted cold) or back to stopped (outcome error)")),
      delete_(DurationFamily(registry, "delete",
                             "A delete, from begun to the sandbox gone (outcome ok)")),
      checkpoint_bytes_(prometheus::BuildHistogram()
                            .Name("osgv_checkpoint_image_bytes")
                            .Help("Size of each sealed checkpoint (memory) image")
                            .Register(registry)
                            .Add({}, ImageSizeBuckets())),
      checkpoint_seconds_(prometheus::BuildHistogram()
                              .Name("osgv_checkpoint_duration_seconds")
                              .Help("How long runsc checkpoint took to write each image that "
                                    "was then sealed")
                              .Register(registry)
                              .Add({}, OperationBuckets())),
      seal_seconds_(prometheus::BuildHistogram()
                        .Name("osgv_checkpoint_seal_duration_seconds")
                        .Help("How long sealing each checkpoint image took after runsc wrote "
                              "it: hashing, fsync and the rename that makes it durable")
                        .Register(registry)
                        .Add({}, OperationBuckets())),
      cold_boots_(prometheus::BuildCounter()
                      .Name("osgv_cold_boots_total")
                      .Help("Starts that booted a sandbox cold instead of restoring its memory, "
                            "by reason (no_checkpoint, checkpoint_unusable, restore_failed)")
                      .Register(registry)) {
  // Every phase and reason shows up, at zero, before anything happened:
  // a rate() or an alert over a series that does not exist yet sees nothing.
  for (SandboxPhase p : kPhases) phases_.Add({{"phase", PhaseName(p)}});
  for (auto& [family, outcomes] :
       {std::pair{&create_, std::vector<const char*>{"ok", "error"}},
        std::pair{&stop_, std::vector<const char*>{"ok", "without_memory", "error"}},
        std::pair{&start_, std::vector<const char*>{"ok", "error"}},
        std::pair{&delete_, std::vector<const char*>{"ok"}}}) {
    for (const char* outcome : outcomes) family->Add({{"outcome", outcome}}, OperationBuckets());
  }
  for (const char* r : {cold_start::kNoCheckpoint, cold_start::kCheckpointUnusable,
                        cold_start::kRestoreFailed}) {
    cold_boots_.Add({{"reason", r}});
  }
}

SandboxMetrics::~SandboxMetrics() {
  std::shared_ptr<Subscription> sub;
  {
    std::lock_guard<std::mutex> lock(mu_);
    sub = subscription_;
  }
  if (sub) {
    sub->SetNotify({});
    sub->Close();
  }
}

void SandboxMetrics::Follow(std::shared_ptr<Subscription> subscription,
                            const std::vector<SandboxSnapshot>& snapshots) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    subscription_ = subscription;
    for (const SandboxSnapshot& s : snapshots) {
      sandboxes_[s.id] = Tracked{s.phase, std::nullopt};
      PhaseGauge(s.phase).Increment();
    }
  }
  subscription->SetNotify([this] { Drain(); });
  Drain();  // whatever was published before the notify was attached
}

void SandboxMetrics::Drain() {
  // Under mu_ from pop to count: two publishers draining at once still
  // count the events in the order they were queued.
  std::lock_guard<std::mutex> lock(mu_);
  WatchEvent event;
  while (subscription_->TryPop(&event)) ObserveLocked(event);
  // Each publish drains right away, so only thousands of publishes racing
  // each other could overflow the queue.
  if (subscription_->overflowed() && !warned_overflow_) {
    warned_overflow_ = true;
    spdlog::warn("metrics: the event queue overflowed; sandbox metrics stop until a restart");
  }
}

void SandboxMetrics::ObserveLocked(const WatchEvent& event) {
  switch (event.kind) {
    case WatchEvent::Kind::kSandbox:
      OnSnapshot(event.sandbox);
      break;
    case WatchEvent::Kind::kDeleted:
      OnDeleted(event.sandbox_id);
      break;
    case WatchEvent::Kind::kPlatformEvent:
      OnPlatformEvent(event.event);
      break;
  }
}

prometheus::Gauge& SandboxMetrics::PhaseGauge(SandboxPhase p) {
  return phases_.Add({{"phase", PhaseName(p)}});  // "unknown": never expected; bounded anyway
}

void SandboxMetrics::OnSnapshot(const SandboxSnapshot& s) {
  auto it = sandboxes_.find(s.id);
  if (it != sandboxes_.end() && it->second.phase == s.phase) return;  // same phase, new detail
  if (it != sandboxes_.end()) {
    PhaseGauge(it->second.phase).Decrement();
    ObserveTransition(it->second, s);
  }
  PhaseGauge(s.phase).Increment();
  sandboxes_[s.id] = Tracked{s.phase, now_()};
}

void SandboxMetrics::ObserveTransition(const Tracked& before, const SandboxSnapshot& after) {
  if (!before.since) return;
  std::chrono::duration<double> took = now_() - *before.since;
  auto observe = [&](prometheus::Family<prometheus::Histogram>& family, const char* outcome) {
    family.Add({{"outcome", outcome}}, OperationBuckets()).Observe(took.count());
  };
  const SandboxPhase from = before.phase;
  const SandboxPhase to = after.phase;
  if (from == phase::kProvisioning && to == phase::kRunning) observe(create_, "ok");
  if (from == phase::kProvisioning && to == phase::kFailed) observe(create_, "error");
  if (from == phase::kStopping && to == phase::kStopped) {
    bool lost = SuspendedReason(after) == reason::kStoppedWithoutMemory;
    observe(stop_, lost ? "without_memory" : "ok");
  }
  if (from == phase::kStopping && to == phase::kRunning) observe(stop_, "error");
  if (from == phase::kStarting && to == phase::kRunning) observe(start_, "ok");
  if (from == phase::kStarting && to == phase::kStopped) observe(start_, "error");
}

void SandboxMetrics::OnDeleted(const std::string& id) {
  auto it = sandboxes_.find(id);
  if (it == sandboxes_.end()) return;
  const Tracked& t = it->second;
  if (t.phase == phase::kDeleting && t.since) {
    std::chrono::duration<double> took = now_() - *t.since;
    delete_.Add({{"outcome", "ok"}}, OperationBuckets()).Observe(took.count());
  }
  PhaseGauge(t.phase).Decrement();
  sandboxes_.erase(it);
}

void SandboxMetrics::OnPlatformEvent(const PlatformEvent& event) {
  if (event.reason == reason::kCheckpointed) {
    if (auto bytes = MetadataNumber(event, "openshell.gvisor.checkpoint_bytes")) {
      checkpoint_bytes_.Observe(*bytes);
    }
    if (auto ms = MetadataNumber(event, "openshell.gvisor.checkpoint_ms")) {
      checkpoint_seconds_.Observe(*ms / 1000);
    }
    if (auto ms = MetadataNumber(event, "openshell.gvisor.seal_ms")) {
      seal_seconds_.Observe(*ms / 1000);
    }
  } else if (event.reason == "ColdStart") {
    auto it = event.metadata.find(cold_start::kMetadataKey);
    std::string why = it == event.metadata.end() ? "" : it->second;
    bool known = why == cold_start::kNoCheckpoint || why == cold_start::kCheckpointUnusable ||
                 why == cold_start::kRestoreFailed;
    cold_boots_.Add({{"reason", known ? why : "unknown"}}).Increment();
  }
}

}  // namespace osgv
