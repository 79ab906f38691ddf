// SandboxManager: the end of a sandbox's run. The monitor's exit report
// becomes the `exited` phase (OOM kills named as such), and the runtime the
// sandbox ran on (runsc container, overlay mount, cgroups) is released
// (SandboxHost::Release) once its monitor has reaped it.
#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "lifecycle/manager_support.h"
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
  if (Phase(e) != phase::kRunning) return absl::OkStatus();
  std::optional<int> code = e->host.RecordedExitCode();
  std::string message;
  if (code) {
    message = DescribeExit(*code);
  } else {
    message = "main process exited; its exit code was lost (the sandbox monitor ended first)";
  }
  AppendLastOutput(e, &message);
  // The host's memory-cgroup OOM killer ends the whole sandbox (runsc.md
  // §7); say so rather than report a bare signal. Read before the cgroup
  // goes away with the container.
  const char* exit_reason = reason::kProcessExited;
  if (e->host.OomKills() > 0) {
    exit_reason = reason::kOOMKilled;
    message = absl::StrCat("the sandbox ran out of memory and was killed (memory limit ",
                           DescribeMiB(e->plan.memory_limit_bytes), "); ", message);
  }
  e->host.Release();
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

void SandboxManager::AppendLastOutput(const EntryPtr& e, std::string* message) {
  // A process that dies at start-up usually said why on its way out.
  if (std::string tail = e->host.LastOutput(); !tail.empty()) {
    absl::StrAppend(message, "; last output: ", tail);
  }
}

void SandboxManager::FinishPendingRelease(const EntryPtr& e) {
  if (!e->release_pending) return;
  e->release_pending = false;
  e->host.WaitForMonitorEnd();
  e->host.Release();
}

}  // namespace osgv
