// Idle suspend's judgement (checkpoint.idle_suspend_after): which running
// sandboxes have used (almost) no CPU for that long. Time and CPU readings
// come in through two functions, so a test advances a fake clock instead
// of sleeping; SandboxManager (sandbox_idle_suspend.cc) calls Observe once
// per tick() and checkpoints what it returns.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace osgv {

class IdleSuspender {
 public:
  using Clock = std::chrono::steady_clock;
  using NowFn = std::function<Clock::time_point()>;
  // CPU time the sandbox's cgroup has used so far; nullopt if unreadable.
  using CpuFn = std::function<std::optional<uint64_t>(const std::string& runsc_id)>;

  struct Running {
    std::string id;
    std::string runsc_id;
  };

  IdleSuspender(std::chrono::milliseconds idle_after, NowFn now, CpuFn cpu);

  // How often to Observe: a quarter of idle_after, within 0.5 s to 30 s.
  std::chrono::milliseconds tick() const { return tick_; }

  // One look at the sandboxes running now. Returns the ids of those idle
  // for idle_after, each once per idle period. A sandbox missing from
  // `running`, or whose CPU cannot be read, is forgotten: it starts afresh.
  std::vector<std::string> Observe(const std::vector<Running>& running);

 private:
  struct Seen {
    uint64_t cpu = 0;
    Clock::time_point idle_since;
  };

  const std::chrono::milliseconds idle_after_;
  const std::chrono::milliseconds tick_;
  const uint64_t busy_ns_;  // CPU in one tick above which a sandbox is busy
  NowFn now_;
  CpuFn cpu_;
  std::map<std::string, Seen> seen_;  // by sandbox id
};

}  // namespace osgv
