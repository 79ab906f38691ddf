// Limit probes: the cgroup limits hold against a memory hog and a fork
// bomb, the host stays responsive meanwhile, and the sandbox cannot rewrite
// its own limits. The hog and the bomb get throwaway sandboxes: a sandbox
// that crosses a limit is killed whole (runsc.md §7).
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cli/probe/probe.h"
#include "lifecycle/runsc/cgroups.h"

extern char** environ;

namespace osgv {
namespace {

using Clock = std::chrono::steady_clock;
constexpr uint64_t kHogLimit = 128ull << 20;
// How far the kernel itself lets a cgroup's usage pass its limit: charges
// it forces for a task the OOM killer has picked, so that it can exit, and
// cgroup v1's usage_in_bytes, which is documented as a "fuzz value" (per-CPU
// charge batches). Seen on a 2-CPU host: a peak under 1 MiB above the limit,
// rarely. A hog the limit did not stop would be hundreds of MiB over.
constexpr uint64_t kKernelSlack = 2ull << 20;

// One cgroup file of a sandbox, v1 (<root>/<controller>/<path>) or v2.
std::string CgroupFile(ProbeWorld& w, const std::string& rid, const std::string& controller,
                       const std::string& file) {
  std::string v1 = absl::StrCat(w.cgroup_root, "/", controller, SandboxCgroupPath(rid), "/", file);
  if (std::filesystem::exists(v1)) return v1;
  return absl::StrCat(w.cgroup_root, SandboxCgroupPath(rid), "/", file);
}

uint64_t ReadNumber(const std::string& path) {
  uint64_t n = 0;
  std::string text = HostRead(path);
  return absl::SimpleAtoi(text.substr(0, text.find('\n')), &n) ? n : 0;
}

// Samples `sample` every 50 ms on a thread while `body` runs; returns the max.
template <typename Body, typename Sample>
uint64_t PeakDuring(Body body, Sample sample) {
  std::atomic<bool> done{false};
  std::atomic<uint64_t> peak{0};
  std::thread t([&] {
    while (!done) {
      uint64_t v = sample();
      if (v > peak) peak = v;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  body();
  done = true;
  t.join();
  return peak;
}

// How long the host takes to start and reap /bin/true, in ms.
uint64_t HostSpawnMs() {
  auto t0 = Clock::now();
  pid_t pid;
  char arg0[] = "true";
  char* argv[] = {arg0, nullptr};
  if (posix_spawn(&pid, "/bin/true", nullptr, nullptr, argv, environ) == 0) waitpid(pid, nullptr, 0);
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

ProbeResult MemoryHogStopped(ProbeWorld& w) {
  auto sb = w.Boot("probe-hog", "128Mi");
  if (!sb.ok()) return CouldNotRun(absl::StrCat("boot: ", sb.status().message()));
  CommandResult r;
  uint64_t peak = PeakDuring(
      [&] { r = w.Sh(*sb, "head -c 400m /dev/zero | tail -c 400m | wc -c; echo survived",
                     std::chrono::seconds(40)); },
      [&] { return SandboxMemoryBytes(w.cgroup_root, sb->runsc_id).value_or(0); });
  bool alive = w.Running(*sb);
  w.Discard(*sb);
  if (Contains(r.stdout_text, "419430400")) return Fail("the hog got all 400 MiB");
  if (alive && peak < kHogLimit / 2) {
    return CouldNotRun(absl::StrCat("the hog never grew (peak ", peak >> 20, " MiB): ", Brief(r)));
  }
  if (peak > kHogLimit + kKernelSlack) {
    return Fail(absl::StrCat("host cgroup peak ", peak >> 10, " KiB > ", kHogLimit >> 10,
                             " KiB limit + ", kKernelSlack >> 10, " KiB kernel slack"));
  }
  return Pass(absl::StrCat("hog stopped (", alive ? "sandbox alive" : "sandbox killed",
                           "); host cgroup peak ", peak >> 10, " KiB",
                           peak > kHogLimit ? ", within the kernel's slack," : "",
                           " vs a ", kHogLimit >> 10, " KiB limit"));
}

ProbeResult ForkBombContained(ProbeWorld& w) {
  auto sb = w.Boot("probe-bomb", "", 512);
  if (!sb.ok()) return CouldNotRun(absl::StrCat("boot: ", sb.status().message()));
  const std::string pids_max = CgroupFile(w, sb->runsc_id, "pids", "pids.max");
  const std::string pids_current = CgroupFile(w, sb->runsc_id, "pids", "pids.current");
  uint64_t limit = ReadNumber(pids_max);
  uint64_t baseline_ms = HostSpawnMs();
  std::atomic<uint64_t> worst_ms{0};
  uint64_t peak = PeakDuring(
      [&] { w.Sh(*sb, "b() { b | b & }; b; sleep 6", std::chrono::seconds(8)); },
      [&] {
        uint64_t ms = HostSpawnMs();
        if (ms > worst_ms) worst_ms = ms;
        return ReadNumber(pids_current);
      });
  bool alive = w.Running(*sb);
  w.Discard(*sb);
  std::string facts = absl::StrCat("pids peak ", peak, "/", limit, ", host spawn ", baseline_ms,
                                   "->", worst_ms.load(), " ms, sandbox ", alive ? "alive" : "killed");
  if (limit == 0) return Fail(absl::StrCat("no pids limit on the sandbox cgroup; ", facts));
  if (peak > limit) return Fail(facts);
  if (worst_ms > 2000) return Fail(absl::StrCat("host unresponsive: ", facts));
  return Pass(facts);
}

// The sandbox tries to raise its own limits through /sys/fs/cgroup; the
// host's cgroup files for it do not move.
ProbeResult CgroupLimitsUnchanged(ProbeWorld& w) {
  const std::string rid = w.primary.runsc_id;
  const std::string pids = CgroupFile(w, rid, "pids", "pids.max");
  const std::string mem = CgroupFile(w, rid, "memory", "memory.limit_in_bytes");
  std::string pids_before = HostRead(pids), mem_before = HostRead(mem);
  auto r = w.Sh(
      "for f in /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max; do echo max > $f; done; "
      "for f in /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max; do "
      "echo 99999999999 > $f; done; echo done");
  if (pids_before.empty()) return CouldNotRun("host pids.max of the sandbox unreadable; nothing to compare with");
  if (HostRead(pids) != pids_before || HostRead(mem) != mem_before) {
    return Fail("the sandbox changed its host cgroup limits");
  }
  return Pass(absl::StrCat("host pids.max still ", pids_before.substr(0, pids_before.find('\n'))));
}

}  // namespace

std::vector<ProbeSpec> LimitProbes() {
  return {
      {"cgroup_limits_unchanged", "cannot raise its own limits", CgroupLimitsUnchanged, {"sh"}},
      {"memory_hog_stopped", "128 MiB limit holds", MemoryHogStopped, {"sh", "head", "tail", "wc"}},
      {"fork_bomb_contained", "pids limit holds, host responsive", ForkBombContained, {"sh", "sleep"}},
  };
}

}  // namespace osgv
