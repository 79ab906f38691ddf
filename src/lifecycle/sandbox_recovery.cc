// SandboxManager: Recover, the start-up reconciliation of every stored
// record with what runsc and the disk show (docs/lifecycle.md, "Crash
// recovery"). Operations a crash cut short are finished or rolled back;
// running sandboxes are adopted. What to do with each record is
// PlanRecovery's decision (recovery_plan.h); this file observes the host
// for it and carries the action out. The orphan sweep is
// sandbox_manager_sweep.cc.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <latch>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "lifecycle/checkpoint/checkpoint_image.h"
#include "lifecycle/checkpoint/restore_gate.h"
#include "lifecycle/fs_util.h"
#include "lifecycle/manager_support.h"
#include "lifecycle/recovery_plan.h"
#include "lifecycle/sandbox_manager.h"
#include "lifecycle/sandbox_status.h"
#include "lifecycle/spec_codec.h"

namespace osgv {


namespace {

// Counts one per-sandbox recovery as ended when its task is destroyed, so
// a recovery the queue drops unrun (Shutdown during Recover) counts as
// well as one that ran.
class CountDownOnDestroy {
 public:
  explicit CountDownOnDestroy(std::shared_ptr<std::latch> left) : left_(std::move(left)) {}
  CountDownOnDestroy(const CountDownOnDestroy&) = delete;
  CountDownOnDestroy& operator=(const CountDownOnDestroy&) = delete;
  ~CountDownOnDestroy() { left_->count_down(); }

 private:
  std::shared_ptr<std::latch> left_;
};

}  // namespace

absl::Status SandboxManager::Recover() {
  auto records = d_.store->List();
  if (!records.ok()) return records.status();
  std::vector<EntryPtr> all;
  for (const auto& r : *records) all.push_back(LoadEntry(r));  // may store a record's plan
  // No restore gate outlives the driver that opened it. A runsc restore
  // left waiting in open() for the gate's writer would wait for good while
  // holding its container's lock, so that the first `runsc state` of this
  // recovery would wait with it: end those restores before any runsc call.
  for (const auto& e : all) RestoreGate::Abandon(e->host.checkpoint().restore_view());
  auto listed = d_.runsc->List();
  if (!listed.ok()) return listed.status();
  auto containers = std::make_shared<std::map<std::string, ContainerState>>();
  for (const auto& c : *listed) (*containers)[c.id] = c;

  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& e : all) entries_[e->id] = e;
  }
  // Each sandbox recovers in its own queue, on the operation workers: one
  // that waits for an interrupted launch or save (minutes, at worst) holds
  // up no other. An error is logged for its sandbox and stops nothing else.
  auto left = std::make_shared<std::latch>(static_cast<std::ptrdiff_t>(all.size()));
  // One slot per record, each written by its own task only.
  std::vector<std::optional<SandboxRequest>> reprovision(all.size());
  for (size_t i = 0; i < all.size(); ++i) {
    auto counted = std::make_shared<CountDownOnDestroy>(left);
    Enqueue(all[i]->id, "recovery", [this, e = all[i], containers, counted, again = &reprovision[i]] {
      return RecoverRecord(e, *containers, again);
    });
  }
  left->wait();
  // The sweep and the re-provisioning need every record's outcome.
  RemoveOrphans(*containers);
  RemoveOrphanNetworks();
  d_.images->CleanStaging();

  size_t reprovisioned = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    if (!reprovision[i]) continue;
    ++reprovisioned;
    Enqueue(all[i]->id, "provisioning", [this, e = all[i], request = std::move(*reprovision[i])] {
      return Provision(e, request);
    });
  }
  spdlog::info("recovery: {} sandbox record(s), {} to re-provision", all.size(),
               reprovisioned);
  // A record recovery could not write lags behind the host: starting to
  // serve on it would build on a state that a crash would not find.
  return BackgroundError();
}

absl::Status SandboxManager::Adopt(const EntryPtr& e, int sandbox_pid) {
  const SandboxRecord r = Record(e);
  // Prefer the monitor (it will record the exit code); if it is gone,
  // watch the sandbox process itself.
  int monitor = e->host.MonitorPid();
  if (monitor <= 0 && r.monitor_pid > 0 && kill(static_cast<pid_t>(r.monitor_pid), 0) == 0) {
    monitor = static_cast<int>(r.monitor_pid);
  }
  bool monitor_alive = monitor > 0;
  int pid = monitor_alive ? monitor : sandbox_pid;
  absl::Status st;
  if (monitor_alive && monitor != r.monitor_pid) {
    st = Transition(e, [&](SandboxRecord& rec) { rec.monitor_pid = monitor; });
  }
  spdlog::info("recovery: sandbox {}: re-adopted running container {} (watching {} {})", r.id,
               r.runsc_id, monitor_alive ? "monitor" : "sandbox", pid);
  // Watched even when the commit failed: its exit must still be noticed.
  WatchExit(e, pid);
  return st;
}

absl::Status SandboxManager::FinishRecoveredStop(const EntryPtr& e,
                                                 const CheckpointImage& image) {
  e->host.Release();
  std::string message = absl::StrCat("Memory checkpointed: ", DescribeMiB(image.bytes),
                                     " (finished after a driver restart)");
  auto st = Transition(e, [&](SandboxRecord& r) {
    r.phase = phase::kStopped;
    r.reason = reason::kCheckpointed;
    r.message = message;
    r.checkpoint_json = CheckpointToJson(image);
    r.monitor_pid = 0;
  });
  if (st.ok()) spdlog::info("recovery: sandbox {}: {}", e->id, message);
  return st;
}

namespace {

// Whatever recovery does with an interrupted Stop, no unsealed temporary
// image survives it.
class DropTemporaries {
 public:
  explicit DropTemporaries(const SandboxHost& host) : host_(host) {}
  DropTemporaries(const DropTemporaries&) = delete;
  DropTemporaries& operator=(const DropTemporaries&) = delete;
  ~DropTemporaries() {
    for (const auto& dir : host_.StagingImages()) RemoveTree(dir).IgnoreError();
  }

 private:
  const SandboxHost& host_;
};

}  // namespace

absl::Status SandboxManager::RecoverRecord(const EntryPtr& e,
                                           const std::map<std::string, ContainerState>& containers,
                                           std::optional<SandboxRequest>* reprovision) {
  const SandboxRecord r = Record(e);
  RecoveryObservation seen = ObserveForRecovery(e, r, containers);
  std::optional<DropTemporaries> drop_temporaries;
  if (r.phase == phase::kStopping) drop_temporaries.emplace(e->host);
  RecoveryAction action = PlanRecovery(r, seen.host);
  while (ObserveMore(e, r, action, &seen)) action = PlanRecovery(r, seen.host);
  spdlog::debug("recovery: sandbox {}: {}", r.id, RecoveryActionName(action));
  return CarryOutRecovery(e, r, action, seen, reprovision);
}

SandboxManager::RecoveryObservation SandboxManager::ObserveForRecovery(
    const EntryPtr& e, const SandboxRecord& r,
    const std::map<std::string, ContainerState>& containers) {
  RecoveryObservation seen;
  if (auto c = containers.find(r.runsc_id); c != containers.end()) {
    seen.host.container_listed = true;
    seen.host.container_status = c->second.status;
    seen.host.up =
        c->second.status == "running" && c->second.pid > 0 && kill(c->second.pid, 0) == 0;
    seen.sandbox_pid = c->second.pid;
  }
  seen.host.monitor_alive = e->host.MonitorPid() > 0;
  seen.host.exit_code = e->host.RecordedExitCode();
  return seen;
}

bool SandboxManager::ObserveMore(const EntryPtr& e, const SandboxRecord& r, RecoveryAction ask,
                                 RecoveryObservation* seen) {
  ObservedHost& host = seen->host;
  switch (ask) {
    case RecoveryAction::kWaitForLaunch:
      host.launch_waited = true;
      // A restore through a gate the dead driver held cannot finish now:
      // Recover abandoned every gate before its first runsc call.
      host.up = e->host.WaitForInterruptedLaunch(&seen->sandbox_pid);
      return true;
    case RecoveryAction::kInspectCheckpoint: {
      auto manifest = ReadManifest(e->host.checkpoint().image());
      host.checkpoint_sealed = manifest.ok() && manifest->created_at_ms >= r.updated_at_ms &&
                               VerifyCheckpoint(*manifest).ok();
      if (*host.checkpoint_sealed) seen->sealed_image = *manifest;
      return true;
    }
    case RecoveryAction::kWaitForCheckpoint:
      host.checkpoint_waited = true;
      host.up = !e->host.WaitForInterruptedCheckpoint(seen->sandbox_pid);
      host.exit_code = e->host.RecordedExitCode();  // the monitor wrote it as the sandbox ended
      return true;
    default:
      return false;  // an action, not a question
  }
}

absl::Status SandboxManager::CarryOutRecovery(const EntryPtr& e, const SandboxRecord& r,
                                              RecoveryAction action,
                                              const RecoveryObservation& seen,
                                              std::optional<SandboxRequest>* reprovision) {
  switch (action) {
    case RecoveryAction::kFinishDelete: {
      // Delete's steps, without its queueing: this runs in the queue.
      spdlog::info("recovery: sandbox {}: finishing an interrupted delete", r.id);
      e->cancel = true;
      auto st = Transition(e, [](SandboxRecord& rec) { rec.phase = phase::kDeleting; });
      if (!st.ok()) return st;
      return DeleteQueued(e).status();
    }
    case RecoveryAction::kAdoptProvisioned: {
      auto st = Transition(e, [&](SandboxRecord& rec) {
        rec.phase = phase::kRunning;
        rec.reason = reason::kBackendReady;
        rec.message = "Sandbox is running (started before a driver restart)";
      });
      auto adopted = Adopt(e, seen.sandbox_pid);
      return st.ok() ? adopted : st;
    }
    case RecoveryAction::kReprovision:
    case RecoveryAction::kFailUnreadableRequest:
      return ReprovisionRecovered(e, r, reprovision);
    case RecoveryAction::kFinishStop:
      return FinishRecoveredStop(e, *seen.sealed_image);
    case RecoveryAction::kSealInterruptedCheckpoint:
      if (auto sealed = e->host.SealInterruptedCheckpoint(); sealed.ok()) {
        return FinishRecoveredStop(e, *sealed);
      }
      return StopWithoutMemory(e, "the driver stopped during a checkpoint");
    case RecoveryAction::kResumeRunning: {
      // The checkpoint never completed and the sandbox still runs: roll back.
      auto st = Transition(e, [](SandboxRecord& rec) {
        rec.phase = phase::kRunning;
        rec.message = "Sandbox is running (a checkpoint was interrupted)";
      });
      auto adopted = Adopt(e, seen.sandbox_pid);
      return st.ok() ? adopted : st;
    }
    case RecoveryAction::kStopWithoutMemory:
      return StopWithoutMemory(e, "the driver stopped during a checkpoint");
    case RecoveryAction::kAdoptStarted:
    case RecoveryAction::kRollBackStart:
      return CarryOutStarting(e, r, action, seen);
    case RecoveryAction::kReleaseStopped:
    case RecoveryAction::kAwaitStoppedMonitor:
      e->host.WaitForMonitorEnd();
      if (action == RecoveryAction::kReleaseStopped) e->host.Release();
      return absl::OkStatus();
    case RecoveryAction::kRecordExit:
    case RecoveryAction::kAdopt:
    case RecoveryAction::kFailExitUnknown:
    case RecoveryAction::kFailLost:
      return CarryOutRunning(e, r, action, seen);
    case RecoveryAction::kKeep:
      return absl::OkStatus();  // exited / failed: terminal, kept as they are
    case RecoveryAction::kWaitForLaunch:
    case RecoveryAction::kInspectCheckpoint:
    case RecoveryAction::kWaitForCheckpoint:
      return absl::OkStatus();  // observations, made by ObserveMore
  }
  return absl::OkStatus();
}

absl::Status SandboxManager::ReprovisionRecovered(const EntryPtr& e, const SandboxRecord& r,
                                                  std::optional<SandboxRequest>* reprovision) {
  // Provisioning was cut short: throw away the half-built runtime and do
  // it again; the gateway is still waiting for this sandbox. (The plan has
  // already told kFailUnreadableRequest apart; the error text is needed
  // here, so the request is decoded again.)
  spdlog::info("recovery: sandbox {}: provisioning was interrupted; restarting it", r.id);
  e->host.Release();
  auto request = DecodeRequest(r.spec_json);
  if (!request.ok()) {
    return Fail(e, reason::kContainerCreateFailed,
                absl::StrCat("stored request unreadable: ", request.status().message()));
  }
  *reprovision = std::move(*request);
  return absl::OkStatus();
}

absl::Status SandboxManager::CarryOutStarting(const EntryPtr& e, const SandboxRecord& r,
                                              RecoveryAction action,
                                              const RecoveryObservation& seen) {
  if (action == RecoveryAction::kAdoptStarted) {
    // The restore (or cold start) went through before the crash; the
    // image it came from is stale (Launch's own rule).
    auto st = Transition(e, [](SandboxRecord& rec) {
      rec.phase = phase::kRunning;
      rec.reason = reason::kBackendReady;
      rec.message = "Sandbox is running (started before a driver restart)";
      rec.checkpoint_json.clear();
    });
    auto adopted = Adopt(e, seen.sandbox_pid);
    return st.ok() ? adopted : st;
  }
  // Roll back to stopped; the image (if any) is untouched until a start
  // succeeds, so Start can simply be retried.
  e->host.Release();
  auto st = Transition(e, [](SandboxRecord& rec) {
    rec.phase = phase::kStopped;
    rec.message = "A start was interrupted by a driver restart; the sandbox is stopped "
                  "and its checkpoint (if any) is kept";
  });
  if (st.ok()) {
    spdlog::info("recovery: sandbox {}: an interrupted start was rolled back to stopped", r.id);
  }
  return st;
}

absl::Status SandboxManager::CarryOutRunning(const EntryPtr& e, const SandboxRecord& r,
                                             RecoveryAction action,
                                             const RecoveryObservation& seen) {
  if (action == RecoveryAction::kAdopt) return Adopt(e, seen.sandbox_pid);
  if (action == RecoveryAction::kRecordExit) {
    // It ended while we were away; the monitor kept the code for us.
    const int code = *seen.host.exit_code;
    std::string message = absl::StrCat(DescribeExit(code), " while the driver was down");
    AppendLastOutput(e, &message);
    e->host.Release();
    auto st = Transition(e, [&](SandboxRecord& rec) {
      rec.phase = phase::kExited;
      rec.reason = reason::kProcessExited;
      rec.message = message;
      rec.exit_code = code;
      rec.monitor_pid = 0;
    });
    if (st.ok()) spdlog::info("recovery: sandbox {}: {}", r.id, message);
    return st;
  }
  const bool lost = action == RecoveryAction::kFailLost;
  std::string message =
      lost ? "the sandbox's runsc container disappeared while the driver was down (host reboot?)"
           : absl::StrCat("the sandbox stopped while the driver was down (state ",
                          seen.host.container_status, "); its exit code is unknown");
  e->host.Release();
  return Fail(e, lost ? reason::kSandboxLost : reason::kProcessExited, message);
}

}  // namespace osgv
