#include "lifecycle/recovery_plan.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "lifecycle/sandbox_status.h"
#include "lifecycle/spec_codec.h"

namespace osgv {
namespace {

using A = RecoveryAction;

// What the host can show, as ObserveForRecovery would see it.
ObservedHost NotListed() { return {}; }

ObservedHost Listed(const std::string& status, bool up = false) {
  ObservedHost h;
  h.container_listed = true;
  h.container_status = status;
  h.up = up;
  return h;
}

ObservedHost Up() { return Listed("running", true); }

ObservedHost WithMonitor(ObservedHost h) {
  h.monitor_alive = true;
  return h;
}

ObservedHost WithExit(ObservedHost h, int code) {
  h.exit_code = code;
  return h;
}

ObservedHost LaunchWaited(ObservedHost h) {
  h.launch_waited = true;
  return h;
}

ObservedHost Sealed(ObservedHost h, bool sealed) {
  h.checkpoint_sealed = sealed;
  return h;
}

ObservedHost CheckpointWaited(ObservedHost h) {
  h.checkpoint_waited = true;
  return h;
}

struct Row {
  const char* what;
  SandboxPhase phase;
  ObservedHost host;
  A expected;
  bool request_readable = true;
};

SandboxRecord RecordOf(const Row& row) {
  SandboxRecord r;
  r.id = "sb-1";
  r.runsc_id = "osgv-0123456789abcdef0123456789abcdef";
  r.phase = row.phase;
  SandboxRequest request;
  request.id = r.id;
  request.name = "alpha";
  r.spec_json = row.request_readable ? EncodeRequest(request) : "not json";
  return r;
}

TEST_CASE("PlanRecovery: every phase and host state has its action", "[recovery_plan]") {
  const std::vector<Row> rows = {
      // An interrupted delete is finished, whatever is still there.
      {"deleting, container up", phase::kDeleting, WithMonitor(Up()), A::kFinishDelete},
      {"deleting, nothing left", phase::kDeleting, NotListed(), A::kFinishDelete},

      // Create cut short.
      {"provisioning, up", phase::kProvisioning, Up(), A::kAdoptProvisioned},
      {"provisioning, up with its monitor", phase::kProvisioning, WithMonitor(Up()),
       A::kAdoptProvisioned},
      {"provisioning, not up, monitor alive: wait for its launch", phase::kProvisioning,
       WithMonitor(NotListed()), A::kWaitForLaunch},
      {"provisioning, created only, monitor alive: wait", phase::kProvisioning,
       WithMonitor(Listed("created")), A::kWaitForLaunch},
      {"provisioning, launch came up while waiting", phase::kProvisioning,
       LaunchWaited(WithMonitor(Up())), A::kAdoptProvisioned},
      {"provisioning, launch did not come up", phase::kProvisioning,
       LaunchWaited(WithMonitor(NotListed())), A::kReprovision},
      {"provisioning, nothing there, no monitor", phase::kProvisioning, NotListed(),
       A::kReprovision},
      {"provisioning, created but never started, no monitor", phase::kProvisioning,
       Listed("created"), A::kReprovision},
      {"provisioning, stopped container", phase::kProvisioning, Listed("stopped"),
       A::kReprovision},
      {"provisioning, unreadable stored request", phase::kProvisioning, NotListed(),
       A::kFailUnreadableRequest, /*request_readable=*/false},
      {"provisioning, unreadable request but up: adopted all the same", phase::kProvisioning,
       Up(), A::kAdoptProvisioned, false},

      // Stop cut short: first, was the image sealed?
      {"stopping, up, image not looked at", phase::kStopping, Up(), A::kInspectCheckpoint},
      {"stopping, gone, image not looked at", phase::kStopping, NotListed(),
       A::kInspectCheckpoint},
      {"stopping, sealed image, sandbox up", phase::kStopping, Sealed(Up(), true),
       A::kFinishStop},
      {"stopping, sealed image, sandbox gone", phase::kStopping, Sealed(NotListed(), true),
       A::kFinishStop},
      {"stopping, no sealed image, up: wait for the save", phase::kStopping,
       Sealed(Up(), false), A::kWaitForCheckpoint},
      {"stopping, save still not done after the wait", phase::kStopping,
       CheckpointWaited(Sealed(Up(), false)), A::kResumeRunning},
      {"stopping, save ended with exit 0", phase::kStopping,
       CheckpointWaited(WithExit(Sealed(NotListed(), false), 0)),
       A::kSealInterruptedCheckpoint},
      {"stopping, sandbox ended with 137 during the wait", phase::kStopping,
       CheckpointWaited(WithExit(Sealed(NotListed(), false), 137)), A::kStopWithoutMemory},
      {"stopping, sandbox ended during the wait, no exit record", phase::kStopping,
       CheckpointWaited(Sealed(NotListed(), false)), A::kStopWithoutMemory},
      {"stopping, already gone at start-up, even with exit 0", phase::kStopping,
       WithExit(Sealed(NotListed(), false), 0), A::kStopWithoutMemory},
      {"stopping, container stopped at start-up", phase::kStopping,
       Sealed(Listed("stopped"), false), A::kStopWithoutMemory},

      // Start cut short.
      {"starting, up", phase::kStarting, Up(), A::kAdoptStarted},
      {"starting, not up, monitor alive: wait for its restore", phase::kStarting,
       WithMonitor(NotListed()), A::kWaitForLaunch},
      {"starting, restore came up while waiting", phase::kStarting,
       LaunchWaited(WithMonitor(Up())), A::kAdoptStarted},
      {"starting, restore did not come up", phase::kStarting,
       LaunchWaited(WithMonitor(Listed("created"))), A::kRollBackStart},
      {"starting, nothing there, no monitor", phase::kStarting, NotListed(),
       A::kRollBackStart},

      // Stopped: only a leftover container, if any.
      {"stopped, container still listed", phase::kStopped, Listed("stopped"),
       A::kReleaseStopped},
      {"stopped, container listed with its monitor", phase::kStopped,
       WithMonitor(Listed("running", true)), A::kReleaseStopped},
      {"stopped, no container", phase::kStopped, NotListed(), A::kAwaitStoppedMonitor},
      {"stopped, no container, an exit record", phase::kStopped, WithExit(NotListed(), 0),
       A::kAwaitStoppedMonitor},

      // Running: ended, still up, or gone.
      {"running, exit recorded, container gone", phase::kRunning, WithExit(NotListed(), 5),
       A::kRecordExit},
      {"running, exit recorded, container still listed", phase::kRunning,
       WithExit(Listed("stopped"), 0), A::kRecordExit},
      {"running, exit recorded wins over up", phase::kRunning, WithExit(Up(), 3),
       A::kRecordExit},
      {"running, up", phase::kRunning, Up(), A::kAdopt},
      {"running, up with its monitor", phase::kRunning, WithMonitor(Up()), A::kAdopt},
      {"running, container stopped, no exit record", phase::kRunning, Listed("stopped"),
       A::kFailExitUnknown},
      {"running, container only created", phase::kRunning, Listed("created"),
       A::kFailExitUnknown},
      {"running, listed running but its pid is dead", phase::kRunning, Listed("running"),
       A::kFailExitUnknown},
      {"running, container missing", phase::kRunning, NotListed(), A::kFailLost},
      {"running, container missing, monitor alive", phase::kRunning,
       WithMonitor(NotListed()), A::kFailLost},

      // Terminal phases, and any phase this driver does not know, are kept.
      {"exited", phase::kExited, WithExit(NotListed(), 1), A::kKeep},
      {"failed", phase::kFailed, Up(), A::kKeep},
      {"a phase a newer driver stored", PhaseOrUnknown("hibernating"), Up(), A::kKeep},
  };
  for (const Row& row : rows) {
    INFO(row.what);
    CHECK(RecoveryActionName(PlanRecovery(RecordOf(row), row.host)) ==
          std::string(RecoveryActionName(row.expected)));
  }
}

// The manager makes each observation the plan asks for and plans again; it
// must reach an action within the three observations there are, never ask
// twice for the same one, whatever the host shows.
TEST_CASE("PlanRecovery: asks each question at most once, then acts", "[recovery_plan]") {
  const std::vector<SandboxPhase> phases = {phase::kProvisioning, phase::kRunning,
                                           phase::kExited,       phase::kFailed,
                                           phase::kDeleting,     phase::kStopping,
                                           phase::kStopped,      phase::kStarting};
  const std::vector<ObservedHost> hosts = {NotListed(), Listed("created"), Listed("stopped"),
                                           Up()};
  for (const auto& p : phases) {
    for (ObservedHost start : hosts) {
      for (bool monitor : {false, true}) {
        for (std::optional<int> exit : {std::optional<int>(), std::optional<int>(0),
                                        std::optional<int>(137)}) {
          for (bool comes_up : {false, true}) {
            ObservedHost h = start;
            h.monitor_alive = monitor;
            h.exit_code = exit;
            Row row{"", p, h, A::kKeep};
            SandboxRecord r = RecordOf(row);
            INFO(PhaseName(p) << " listed=" << h.container_listed << " up=" << h.up << " monitor="
                   << monitor << " exit=" << exit.value_or(-1) << " comes_up=" << comes_up);
            int questions = 0;
            A a = PlanRecovery(r, h);
            for (;; a = PlanRecovery(r, h)) {
              if (a == A::kWaitForLaunch) {
                REQUIRE_FALSE(h.launch_waited);
                h.launch_waited = true;
                h.up = comes_up;
              } else if (a == A::kInspectCheckpoint) {
                REQUIRE_FALSE(h.checkpoint_sealed.has_value());
                h.checkpoint_sealed = comes_up;  // reuse the flag: sealed or not
              } else if (a == A::kWaitForCheckpoint) {
                REQUIRE_FALSE(h.checkpoint_waited);
                h.checkpoint_waited = true;
                h.up = !comes_up;
              } else {
                break;
              }
              REQUIRE(++questions <= 3);
            }
            // Only the phases that need them ever ask.
            if (p != phase::kProvisioning && p != phase::kStarting) CHECK_FALSE(h.launch_waited);
            if (p != phase::kStopping) {
              CHECK_FALSE(h.checkpoint_sealed.has_value());
              CHECK_FALSE(h.checkpoint_waited);
            }
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace osgv
