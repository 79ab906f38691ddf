// What start-up recovery does with one sandbox record, decided from the
// record's phase and what the host shows (docs/lifecycle.md, "Crash
// recovery"). A pure function, so every case is one row of a table
// (tests/unit/recovery_plan_test.cc); SandboxManager::RecoverRecord
// (sandbox_recovery.cc) observes the host and carries the steps out.
//
// Some observations cost time or I/O: waiting for a launch or a checkpoint
// that a crash interrupted may take minutes, and verifying an image reads
// all of it. The plan asks for those (kWaitForLaunch, kInspectCheckpoint,
// kWaitForCheckpoint) only where they decide something; the manager fills
// them in and plans again, until the plan names an action.
#pragma once

#include <optional>
#include <string>

#include "lifecycle/store/state_store.h"

namespace osgv {

struct ObservedHost {
  // Taken for every record before the first plan (cheap, and changes
  // nothing on the host).
  bool container_listed = false;  // `runsc list` has the container
  std::string container_status;   // as runsc lists it ("" when not listed)
  // Listed as "running" with a live pid. "created" does not count: a
  // launch that never reached `runsc start` would never run its process.
  bool up = false;
  // A live monitor of this very sandbox, per its monitor.pid.
  bool monitor_alive = false;
  // The monitor's exit record, when it wrote one.
  std::optional<int> exit_code;

  // Observed when the plan asks for it, and only then.
  bool launch_waited = false;  // kWaitForLaunch done; `up` says how it ended
  // kInspectCheckpoint: image/manifest.json was sealed after the record's
  // last change (so by the interrupted Stop) and every file matches it.
  std::optional<bool> checkpoint_sealed;
  // kWaitForCheckpoint done: `up` false if the sandbox process ended (the
  // save finished, one way or the other), and `exit_code` read again.
  bool checkpoint_waited = false;
};

enum class RecoveryAction {
  // Observations to make before planning again.
  kWaitForLaunch,      // provisioning/starting: a monitor may still be launching
  kInspectCheckpoint,  // stopping: was the image sealed before the crash?
  kWaitForCheckpoint,  // stopping, sandbox up: the save may still be running

  kFinishDelete,            // deleting: delete again
  kAdoptProvisioned,        // provisioning, came up: running, watched
  kReprovision,             // provisioning, not up: release, provision again
  kFailUnreadableRequest,   // ... but the stored request cannot be read
  kFinishStop,              // stopping, image sealed: stopped / Checkpointed
  kSealInterruptedCheckpoint,  // stopping, save ended with exit 0: seal its image
  kResumeRunning,           // stopping, save never finished, sandbox runs: roll back
  kStopWithoutMemory,       // stopping otherwise: stopped / StoppedWithoutMemory
  kAdoptStarted,            // starting, came up: running, watched
  kRollBackStart,           // starting, not up: stopped again, image kept
  kReleaseStopped,          // stopped, container still listed: wait for its monitor, delete it
  kAwaitStoppedMonitor,     // stopped, no container: wait for a reaping monitor only
  kRecordExit,              // running, exit recorded: exited with that code
  kAdopt,                   // running, up: watched again, untouched
  kFailExitUnknown,         // running, container stopped: failed / ProcessExited
  kFailLost,                // running, container gone: failed / SandboxLost
  kKeep,                    // exited, failed (terminal) or a phase we do not know
};

RecoveryAction PlanRecovery(const SandboxRecord& record, const ObservedHost& host);

// For logs and test failures.
const char* RecoveryActionName(RecoveryAction action);

}  // namespace osgv
