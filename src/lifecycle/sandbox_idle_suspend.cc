// SandboxManager: idle suspend. With checkpoint.idle_suspend_after set, a
// running sandbox whose cgroup has used (almost) no CPU for that long is
// checkpointed as a Stop would (docs/lifecycle.md, "Stop: checkpoint").
// IdleSuspender (idle_suspender.h) judges what is idle; this file runs its
// ticks and the checkpoints.
#include <spdlog/spdlog.h>

#include <map>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lifecycle/idle_suspender.h"
#include "lifecycle/runsc/cgroups.h"
#include "lifecycle/sandbox_manager.h"
#include "lifecycle/sandbox_status.h"

namespace osgv {

void SandboxManager::StartIdleSuspend() {
  if (d_.config.checkpoint.idle_suspend_after.count() <= 0) return;
  std::lock_guard<std::mutex> lock(shutdown_mu_);
  if (shutting_down_ || idle_thread_.joinable()) return;
  spdlog::info("idle suspend: sandboxes idle for {} s are checkpointed",
               d_.config.checkpoint.idle_suspend_after.count() / 1000);
  idle_thread_ = std::thread([this] { IdleSuspendLoop(); });
}

void SandboxManager::IdleSuspendLoop() {
  IdleSuspender idle(
      d_.config.checkpoint.idle_suspend_after, [this] { return idle_ticker_->Now(); },
      [this](const std::string& rid) { return SandboxCpuNanos(d_.cgroup_root, rid); });
  // Shutdown stops the ticker.
  while (idle_ticker_->Wait(idle.tick())) {
    std::map<std::string, EntryPtr> running;
    std::vector<IdleSuspender::Running> observed;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [id, e] : entries_) {
        if (e->record.phase != phase::kRunning) continue;
        running[id] = e;
        observed.push_back({e->id, e->runsc_id});
      }
    }
    // A sandbox with an operation queued or running is simply not idle.
    for (const auto& id : idle.Observe(observed)) {
      EnqueueIfIdle(id, "idle suspend", [this, e = running[id]] { return SuspendIfIdle(e); });
    }
  }
}

absl::Status SandboxManager::SuspendIfIdle(const EntryPtr& e) {
  if (shutting_down_ || Phase(e) != phase::kRunning) return absl::OkStatus();
  std::string why = absl::StrCat("Suspended by the driver after ",
                                 d_.config.checkpoint.idle_suspend_after.count() / 1000,
                                 " s without CPU use");
  spdlog::info("sandbox {}: idle; checkpointing it", e->id);
  return CheckpointLocked(e, why);
}

}  // namespace osgv
