// Everything `serve` exposes on metrics.listen (docs/operations.md,
// Metrics), built only when that is set: one registry, the pieces that
// feed it through lifecycle's own seams, and the HTTP endpoint.
//
//   runner()     wraps the driver's CommandRunner: tool calls
//   images()     the image store's ImageObserver: pulls, cache hits
//   sandboxes()  follows the event bus: phases, durations, checkpoints
//   checkpoint disk space, read at each scrape
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "capabilities/config.h"
#include "lifecycle/image/image_observer.h"
#include "lifecycle/runsc/command_runner.h"
#include "metrics/checkpoint_disk.h"
#include "metrics/image_metrics.h"
#include "metrics/metered_runner.h"
#include "metrics/sandbox_metrics.h"
#include "prometheus/collectable.h"
#include "prometheus/registry.h"

namespace prometheus {
class Exposer;
}

namespace osgv {

class DriverMetrics {
 public:
  // nullptr when config.listen is empty: no listener, no thread. Otherwise
  // the endpoint answers GET /metrics from now on. `runner` (the real one)
  // must outlive the result. An address that cannot be bound is
  // FAILED_PRECONDITION naming metrics.listen.
  static absl::StatusOr<std::unique_ptr<DriverMetrics>> Start(const MetricsConfig& config,
                                                              CommandRunner* runner,
                                                              const std::string& checkpoint_dir);
  ~DriverMetrics();

  CommandRunner* runner() { return &runner_; }
  ImageObserver* images() { return &images_; }
  SandboxMetrics& sandboxes() { return sandboxes_; }
  // What a scrape returns (the disk gauges read now), without HTTP.
  std::vector<prometheus::MetricFamily> Collect() const;
  // The TCP port the endpoint listens on.
  int port() const;

 private:
  DriverMetrics(CommandRunner* runner, const std::string& checkpoint_dir);

  std::shared_ptr<prometheus::Registry> registry_;
  MeteredRunner runner_;
  ImageMetrics images_;
  SandboxMetrics sandboxes_;
  mutable CheckpointDiskMetrics disk_;
  // What the endpoint collects: refresh, then the registry.
  std::shared_ptr<prometheus::Collectable> scrape_;
  // Last: stopped (its threads joined) before anything it reads goes.
  std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace osgv
