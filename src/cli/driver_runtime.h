// Everything a SandboxManager needs, built in one place from a Config: the
// state-dir lock, the store, the runner and runsc, skopeo and the image
// store, the overlay mounter, the monitor launcher, the exit watcher, the
// event bus and (network.mode sandbox) the host network.
// `serve` wraps it in the gRPC service; `run` and `probe` drive it directly,
// so all three go through the same lifecycle code.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "capabilities/config.h"
#include "cli/state_dir_lock.h"
#include "lifecycle/image/skopeo.h"
#include "lifecycle/sandbox_manager.h"
#include "metrics/driver_metrics.h"

namespace osgv {

struct DriverRuntime {
  StateLayout layout;
  int lock_fd = -1;  // flock on layout.lock_file(), released on close
  std::unique_ptr<StateStore> store;
  ProcessRunner runner;
  // Only with metrics (serve, metrics.listen set); everything below runs
  // its tools through metrics->runner() then, so it is declared above them.
  std::unique_ptr<DriverMetrics> metrics;
  std::unique_ptr<Runsc> runsc;
  RunscFeatures features;
  std::unique_ptr<Skopeo> skopeo;
  std::unique_ptr<ImageStore> images;
  OverlayMounter mounter;
  std::unique_ptr<ProcessMonitorLauncher> launcher;
  ExitWatcher exits;
  std::unique_ptr<EventBus> events;
  std::unique_ptr<HostNetwork> network;  // only when NetworkEnabled(config)
  std::unique_ptr<SandboxManager> manager;  // declared last: destroyed first

  DriverRuntime() = default;
  DriverRuntime(const DriverRuntime&) = delete;
  DriverRuntime& operator=(const DriverRuntime&) = delete;
  // Stops background work (sandboxes keep running), then releases the lock.
  ~DriverRuntime();
};

// The runsc options every command uses for this config and state dir.
RunscOptions RunscOptionsFor(const Config& config, const StateLayout& layout);

// Resolves the tools to absolute paths (tool_paths.h; logged once as
// "tools: runsc=... skopeo=..."), creates the state dir layout (0700),
// takes its lock (one driver per state dir), opens the store, detects
// runsc and builds the manager. Does not
// recover: the caller decides (serve does, an ephemeral run has nothing to).
// `with_metrics` (serve): start the metrics endpoint when metrics.listen is
// set; run and probe never do.
absl::StatusOr<std::unique_ptr<DriverRuntime>> OpenDriverRuntime(const Config& config,
                                                                 bool with_metrics = false);

// Path of this binary, for the monitor launcher (`<self> monitor ...`).
std::string SelfExe();

}  // namespace osgv
