// SandboxManager: the end of a sandbox's run. The monitor's exit report
// becomes the `exited` phase (OOM kills named as such), and the runtime the
// sandbox ran on (runsc container, overlay mount, cgroups) is released
// once its monitor has reaped it.
#include <spdlog/spdlog.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "lifecycle/console_tail.h"
#include "lifecycle/fs_util.h"
#include "lifecycle/manager_support.h"
#include "lifecycle/runsc/cgroups.h"
#include "lifecycle/sandbox_manager.h"
#include "lifecycle/sandbox_status.h"

namespace osgv {


void SandboxManager::WatchExit(const EntryPtr& e, int pid) {
  std::string id = e->id;
  const uint64_t seq = ++launch_counter_;
  e->launch_seq = seq;
  d_.exits->Watch(pid, [this, id, seq] {
    // Never block the watcher thread: the sandbox's queue handles it, after
    // whatever operation of the sandbox is queued or running.
    if (!shutting_down_) {
      Enqueue(id, "exit", [this, id, seq] { return OnMonitorExit(id, seq); });
    }
  });
}

absl::Status SandboxManager::OnMonitorExit(const std::string& id, uint64_t seq) {
  EntryPtr e;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return absl::OkStatus();
    e = it->second;
  }
  // An earlier incarnation's, or a run that ended some other way (a stop,
  // a delete, ...): nothing to record.
  if (shutting_down_ || seq != e->launch_seq) return absl::OkStatus();
  const std::string& rid = e->runsc_id;
  if (Phase(e) != phase::kRunning) return absl::OkStatus();
  auto exit = ReadExitRecord(d_.layout.exit_file(rid));
  std::optional<int> code;
  std::string message;
  if (exit.ok() && exit->has_value()) {
    code = (*exit)->exit_code;
    message = DescribeExit(*code);
  } else {
    message = "main process exited; its exit code was lost (the sandbox monitor ended first)";
  }
  AppendLastOutput(rid, &message);
  // The host's memory-cgroup OOM killer ends the whole sandbox (runsc.md
  // §7); say so rather than report a bare signal. Read before the cgroup
  // goes away with the container.
  const char* exit_reason = reason::kProcessExited;
  if (SandboxOomKills(d_.cgroup_root, rid) > 0) {
    exit_reason = reason::kOOMKilled;
    message = absl::StrCat("the sandbox ran out of memory and was killed (memory limit ",
                           DescribeMiB(e->plan.memory_limit_bytes), "); ", message);
  }
  ReleaseRuntime(rid);
  spdlog::info("sandbox {}: {}", id, message);
  auto st = Transition(e, [&](SandboxRecord& r) {
    r.phase = phase::kExited;
    r.reason = exit_reason;
    r.message = message;
    r.exit_code = code;
    r.monitor_pid = 0;
  });
  if (!st.ok()) return st;
  PublishEvent(id, "Warning", exit_reason, message);
  return absl::OkStatus();
}

void SandboxManager::AppendLastOutput(const std::string& rid, std::string* message) const {
  // A process that dies at start-up usually said why on its way out.
  if (std::string tail = ConsoleTail(d_.layout.console_log(rid)); !tail.empty()) {
    absl::StrAppend(message, "; last output: ", tail);
  }
}

void SandboxManager::FinishPendingRelease(const EntryPtr& e) {
  if (!e->release_pending) return;
  e->release_pending = false;
  WaitForMonitorEnd(e->runsc_id);
  ReleaseRuntime(e->runsc_id);
}

void SandboxManager::WaitForMonitorEnd(const std::string& rid) {
  int pid = MonitorPidOf(rid);
  if (pid <= 0) return;
  ProcessHandle monitor(pid);
  // It reaps the sandbox, records its exit and reaps the gofer (a few
  // seconds at most, monitor_process.cc); runsc delete needs the reap.
  if (!monitor.WaitForExit(std::chrono::seconds(10))) {
    spdlog::warn("sandbox {}: its monitor (pid {}) has not ended 10 s after the sandbox stopped; "
                 "releasing the container anyway", rid, pid);
  }
}

void SandboxManager::ReleaseRuntime(const std::string& rid) {
  auto st = d_.runsc->Delete(rid, /*force=*/true);
  if (!st.ok() && !absl::IsNotFound(st)) spdlog::warn("{}", st.ToString());
  st = d_.mounter->Unmount(d_.layout.rootfs(rid));
  if (!st.ok()) spdlog::warn("{}", st.ToString());
  if (int n = RemoveLeakedCgroups(d_.cgroup_root, rid); n > 0) {
    spdlog::debug("sandbox {}: removed {} leaked cgroup dir(s)", rid, n);
  }
}

int SandboxManager::MonitorPidOf(const std::string& rid) const {
  auto text = ReadFile(d_.layout.monitor_pid(rid));
  int pid = 0;
  if (!text.ok() || !absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &pid) || pid <= 0) return 0;
  // Only a live process that is our monitor for this very sandbox counts.
  return IsMonitorOf(pid, d_.layout.sandbox_dir(rid)) ? pid : 0;
}

}  // namespace osgv
