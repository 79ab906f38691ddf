// SandboxManager: idle suspend. With checkpoint.idle_suspend_after set, a
// running sandbox whose cgroup has used (almost) no CPU for that long is
// checkpointed as a Stop would (docs/lifecycle.md, "Stop: checkpoint").
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "lifecycle/manager_support.h"
#include "lifecycle/runsc/cgroups.h"
#include "lifecycle/sandbox_manager.h"
#include "lifecycle/sandbox_status.h"

namespace osgv {

using manager_support::Clock;

void SandboxManager::StartIdleSuspend() {
  if (d_.config.checkpoint.idle_suspend_after.count() <= 0) return;
  spdlog::info("idle suspend: sandboxes idle for {} s are checkpointed",
               d_.config.checkpoint.idle_suspend_after.count() / 1000);
  RunInBackground([this] { IdleSuspendLoop(); });
}

void SandboxManager::IdleSuspendLoop() {
  using std::chrono::milliseconds;
  const milliseconds idle_after = d_.config.checkpoint.idle_suspend_after;
  const milliseconds tick = std::clamp(idle_after / 4, milliseconds(500), milliseconds(30000));
  // "Idle" = the cgroup used under 5% of one core during a tick. An idle
  // sandbox is not at zero: the systrap sentry's own timers cost about
  // 2.5% of a core here (measured: ~25 ms of CPU per second, busybox sleep).
  const uint64_t busy_ns = static_cast<uint64_t>(tick.count()) * 1000000 * 5 / 100;
  struct Seen {
    uint64_t cpu = 0;
    Clock::time_point idle_since;
  };
  std::map<std::string, Seen> seen;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(tasks_mu_);
      if (shutdown_cv_.wait_for(lock, tick, [this] { return shutting_down_.load(); })) return;
    }
    std::vector<EntryPtr> running;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [id, e] : entries_) {
        if (e->record.phase == phase::kRunning) running.push_back(e);
      }
    }
    std::map<std::string, Seen> next;
    auto now = Clock::now();
    for (const auto& e : running) {
      auto cpu = SandboxCpuNanos(d_.cgroup_root, e->runsc_id);
      if (!cpu) continue;
      auto it = seen.find(e->id);
      Seen s{*cpu, now};
      if (it != seen.end() && *cpu - it->second.cpu < busy_ns) s.idle_since = it->second.idle_since;
      next[e->id] = s;
      if (now - s.idle_since >= idle_after) {
        s.idle_since = now;  // do not ask twice while the checkpoint runs
        next[e->id] = s;
        RunInBackground([this, e] { SuspendIfIdle(e); });
      }
    }
    seen.swap(next);
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
