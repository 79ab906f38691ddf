// SandboxManager: idle suspend. With checkpoint.idle_suspend_after set, a
// running sandbox whose cgroup has used (almost) no CPU for that long is
// checkpointed as a Stop would (docs/lifecycle.md, "Stop: checkpoint").
// IdleSuspender (idle_suspender.h) judges what is idle; this file runs its
// ticks and the checkpoints.
#include <spdlog/spdlog.h>

#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lifecycle/idle_suspender.h"
#include "lifecycle/runsc/cgroups.h"
#include "lifecycle/sandbox_manager.h"
#include "lifecycle/sandbox_status.h"

namespace osgv {

void SandboxManager::StartIdleSuspend() {
  if (d_.config.checkpoint.idle_suspend_after.count() <= 0) return;
  spdlog::info("idle suspend: sandboxes idle for {} s are checkpointed",
               d_.config.checkpoint.idle_suspend_after.count() / 1000);
  RunInBackground([this] { IdleSuspendLoop(); });
}

void SandboxManager::IdleSuspendLoop() {
  IdleSuspender idle(
      d_.config.checkpoint.idle_suspend_after, [] { return IdleSuspender::Clock::now(); },
      [this](const std::string& rid) { return SandboxCpuNanos(d_.cgroup_root, rid); });
  while (true) {
    {
      std::unique_lock<std::mutex> lock(tasks_mu_);
      if (shutdown_cv_.wait_for(lock, idle.tick(), [this] { return shutting_down_.load(); })) {
        return;
      }
    }
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
    for (const auto& id : idle.Observe(observed)) {
      RunInBackground([this, e = running[id]] { SuspendIfIdle(e); });
    }
  }
}

void SandboxManager::SuspendIfIdle(const EntryPtr& e) {
  // A sandbox busy with another operation is simply not idle.
  std::unique_lock<std::mutex> op(e->op_mu, std::try_to_lock);
  if (!op.owns_lock() || shutting_down_ || Phase(e) != phase::kRunning) return;
  std::string why = absl::StrCat("Suspended by the driver after ",
                                 d_.config.checkpoint.idle_suspend_after.count() / 1000,
                                 " s without CPU use");
  spdlog::info("sandbox {}: idle; checkpointing it", e->id);
  auto st = CheckpointLocked(e, why);
  if (!st.ok()) spdlog::warn("sandbox {}: idle suspend failed: {}", e->id, st.ToString());
}

}  // namespace osgv
