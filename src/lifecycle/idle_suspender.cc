#include "lifecycle/idle_suspender.h"

#include <algorithm>
#include <utility>

namespace osgv {
namespace {

using std::chrono::milliseconds;

milliseconds TickFor(milliseconds idle_after) {
  return std::clamp(idle_after / 4, milliseconds(500), milliseconds(30000));
}

}  // namespace

IdleSuspender::IdleSuspender(milliseconds idle_after, NowFn now, CpuFn cpu)
    : idle_after_(idle_after),
      tick_(TickFor(idle_after)),
      // "Idle" = the cgroup used under 5% of one core during a tick. An idle
      // sandbox is not at zero: the systrap sentry's own timers cost about
      // 2.5% of a core here (measured: ~25 ms of CPU per second, busybox sleep).
      busy_ns_(static_cast<uint64_t>(tick_.count()) * 1000000 * 5 / 100),
      now_(std::move(now)),
      cpu_(std::move(cpu)) {}

std::vector<std::string> IdleSuspender::Observe(const std::vector<Running>& running) {
  std::vector<std::string> suspend;
  std::map<std::string, Seen> next;
  const auto now = now_();
  for (const auto& sandbox : running) {
    auto cpu = cpu_(sandbox.runsc_id);
    if (!cpu) continue;
    auto it = seen_.find(sandbox.id);
    Seen s{*cpu, now};
    if (it != seen_.end() && *cpu - it->second.cpu < busy_ns_) s.idle_since = it->second.idle_since;
    if (now - s.idle_since >= idle_after_) {
      s.idle_since = now;  // do not ask twice while the checkpoint runs
      suspend.push_back(sandbox.id);
    }
    next[sandbox.id] = s;
  }
  seen_.swap(next);
  return suspend;
}

}  // namespace osgv
