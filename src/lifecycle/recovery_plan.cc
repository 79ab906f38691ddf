#include "lifecycle/recovery_plan.h"

#include "lifecycle/sandbox_status.h"
#include "lifecycle/spec_codec.h"

namespace osgv {
namespace {

using A = RecoveryAction;

// Create and Start both end in a launch; a crash during one may leave its
// monitor still bringing the container up, so look only once it is done.
bool LaunchMayStillComeUp(const ObservedHost& host) {
  return !host.up && host.monitor_alive && !host.launch_waited;
}

A PlanProvisioning(const SandboxRecord& r, const ObservedHost& host) {
  if (LaunchMayStillComeUp(host)) return A::kWaitForLaunch;
  if (host.up) return A::kAdoptProvisioned;  // it came up after all
  // The gateway is still waiting for this sandbox: do it again.
  return DecodeRequest(r.spec_json).ok() ? A::kReprovision : A::kFailUnreadableRequest;
}

A PlanStopping(const ObservedHost& host) {
  if (!host.checkpoint_sealed) return A::kInspectCheckpoint;
  if (*host.checkpoint_sealed) return A::kFinishStop;
  // The sandbox, not the `runsc checkpoint` CLI we lost, does the saving.
  if (host.up && !host.checkpoint_waited) return A::kWaitForCheckpoint;
  if (host.up) return A::kResumeRunning;  // nothing is being written any more
  // Trust the save only if the sandbox ended the way a finished save ends
  // it (exit 0, recorded by its monitor) while we watched. A sandbox that
  // was already gone at start-up is not trusted to have finished.
  if (host.checkpoint_waited && host.exit_code == 0) return A::kSealInterruptedCheckpoint;
  return A::kStopWithoutMemory;
}

A PlanStarting(const ObservedHost& host) {
  if (LaunchMayStillComeUp(host)) return A::kWaitForLaunch;
  return host.up ? A::kAdoptStarted : A::kRollBackStart;
}

A PlanRunning(const ObservedHost& host) {
  if (host.exit_code) return A::kRecordExit;  // the monitor kept the code for us
  if (host.up) return A::kAdopt;
  return host.container_listed ? A::kFailExitUnknown : A::kFailLost;
}

}  // namespace

RecoveryAction PlanRecovery(const SandboxRecord& record, const ObservedHost& host) {
  const SandboxPhase p = record.phase;
  if (p == phase::kDeleting) return A::kFinishDelete;
  if (p == phase::kProvisioning) return PlanProvisioning(record, host);
  if (p == phase::kStopping) return PlanStopping(host);
  if (p == phase::kStarting) return PlanStarting(host);
  if (p == phase::kStopped) {
    // A crash right after a Stop can leave its monitor still reaping.
    return host.container_listed ? A::kReleaseStopped : A::kAwaitStoppedMonitor;
  }
  if (p == phase::kRunning) return PlanRunning(host);
  return A::kKeep;  // exited / failed: terminal, kept
}

const char* RecoveryActionName(RecoveryAction action) {
  switch (action) {
    case A::kWaitForLaunch: return "WaitForLaunch";
    case A::kInspectCheckpoint: return "InspectCheckpoint";
    case A::kWaitForCheckpoint: return "WaitForCheckpoint";
    case A::kFinishDelete: return "FinishDelete";
    case A::kAdoptProvisioned: return "AdoptProvisioned";
    case A::kReprovision: return "Reprovision";
    case A::kFailUnreadableRequest: return "FailUnreadableRequest";
    case A::kFinishStop: return "FinishStop";
    case A::kSealInterruptedCheckpoint: return "SealInterruptedCheckpoint";
    case A::kResumeRunning: return "ResumeRunning";
    case A::kStopWithoutMemory: return "StopWithoutMemory";
    case A::kAdoptStarted: return "AdoptStarted";
    case A::kRollBackStart: return "RollBackStart";
    case A::kReleaseStopped: return "ReleaseStopped";
    case A::kAwaitStoppedMonitor: return "AwaitStoppedMonitor";
    case A::kRecordExit: return "RecordExit";
    case A::kAdopt: return "Adopt";
    case A::kFailExitUnknown: return "FailExitUnknown";
    case A::kFailLost: return "FailLost";
    case A::kKeep: return "Keep";
  }
  return "?";
}

}  // namespace osgv
