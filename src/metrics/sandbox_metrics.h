// Sandbox lifecycle metrics, read off the event bus: the stream that
// WatchSandboxes serves carries every phase change and the Checkpointed
// and ColdStart events, so lifecycle code makes no metrics calls at all.
//
//   osgv_sandboxes{phase}                               gauge
//   osgv_sandbox_{create,stop,start,delete}_duration_seconds{outcome}
//   osgv_checkpoint_image_bytes, osgv_checkpoint_duration_seconds,
//   osgv_checkpoint_seal_duration_seconds
//   osgv_cold_boots_total{reason}
//
// A duration is measured from the phase change that begins the operation
// (provisioning, stopping, starting, deleting) to the one that ends it, as
// this process saw them; an operation already under way when Follow began
// (a re-provision after a restart) is not measured. Sandbox ids are kept
// only to pair those changes up; no label ever carries one.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "lifecycle/events/event_bus.h"
#include "openshell_gvisor/sandbox.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace osgv {

class SandboxMetrics {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  // `now` is replaceable so tests need no sleep.
  explicit SandboxMetrics(prometheus::Registry& registry,
                          Clock now = std::chrono::steady_clock::now);
  // Detaches from the subscription. Whoever publishes on the bus must be
  // gone by then (the driver destroys its manager first).
  ~SandboxMetrics();
  SandboxMetrics(const SandboxMetrics&) = delete;
  SandboxMetrics& operator=(const SandboxMetrics&) = delete;

  // Counts `snapshots` (the sandboxes there are now), then every event on
  // `subscription` as it is published, on the publisher's thread. Pass
  // what SandboxManager::Watch returns: it lists and subscribes in one
  // step, so nothing is missed or counted twice. Call once.
  void Follow(std::shared_ptr<Subscription> subscription,
              const std::vector<SandboxSnapshot>& snapshots);

 private:
  struct Tracked {
    SandboxPhase phase;
    // When it entered `phase`, if this process saw that happen.
    std::optional<std::chrono::steady_clock::time_point> since;
  };

  void Drain();
  void ObserveLocked(const WatchEvent& event);
  void OnSnapshot(const SandboxSnapshot& snapshot);
  void OnDeleted(const std::string& id);
  void OnPlatformEvent(const PlatformEvent& event);
  // The operation a phase change ends, if any, into its histogram.
  void ObserveTransition(const Tracked& before, const SandboxSnapshot& after);
  prometheus::Gauge& PhaseGauge(SandboxPhase phase);

  Clock now_;
  prometheus::Family<prometheus::Gauge>& phases_;
  prometheus::Family<prometheus::Histogram>& create_;
  prometheus::Family<prometheus::Histogram>& stop_;
  prometheus::Family<prometheus::Histogram>& start_;
  prometheus::Family<prometheus::Histogram>& delete_;
  prometheus::Histogram& checkpoint_bytes_;
  prometheus::Histogram& checkpoint_seconds_;
  prometheus::Histogram& seal_seconds_;
  prometheus::Family<prometheus::Counter>& cold_boots_;

  std::mutex mu_;  // one event at a time, in publishing order
  std::shared_ptr<Subscription> subscription_;
  std::map<std::string, Tracked> sandboxes_;  // by sandbox id
  bool warned_overflow_ = false;
};

}  // namespace osgv
