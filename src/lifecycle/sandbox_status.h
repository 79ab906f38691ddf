// The condition vocabulary this driver reports, in one place.
//
// The gateway reads `Ready=False` with any reason outside a short transient
// list as a permanent Error (gateway-contract.md §0.1, §4.1). So every phase
// that is still "coming up" uses a transient reason, and only phases in which
// the sandbox really failed use a terminal one.
#pragma once

#include <optional>
#include <string>

#include "openshell_gvisor/sandbox_phase.h"
#include "lifecycle/store/state_store.h"
#include "openshell_gvisor/sandbox.h"

namespace osgv {

// Lifecycle phases: sandbox_phase.h (phase::kRunning, ...).

// Reasons we emit. Transient ones come from the gateway's own list.
namespace reason {
inline constexpr char kStarting[] = "Starting";            // transient
inline constexpr char kBackendReady[] = "BackendReady";    // Ready=True
inline constexpr char kProcessExited[] = "ProcessExited";  // terminal
inline constexpr char kImagePullFailed[] = "ImagePullFailed";
inline constexpr char kContainerCreateFailed[] = "ContainerCreateFailed";
inline constexpr char kContainerStartFailed[] = "ContainerStartFailed";
inline constexpr char kOOMKilled[] = "OOMKilled";          // terminal
inline constexpr char kSandboxLost[] = "SandboxLost";      // vanished while we were down
// Suspended=True reasons: the phase is Stopped either way.
inline constexpr char kCheckpointed[] = "Checkpointed";
inline constexpr char kStoppedWithoutMemory[] = "StoppedWithoutMemory";
}  // namespace reason

// True for the reasons the gateway treats as "still provisioning"
// (compared case-insensitively, as the gateway does).
bool IsTransientReason(const std::string& reason);

// The snapshot the gateway sees for a record. Never carries the spec.
SandboxSnapshot SnapshotOf(const SandboxRecord& record);

// Human text for a main-process exit ("exit code 3", "killed by signal 9").
std::string DescribeExit(int exit_code);

std::string Rfc3339(int64_t unix_ms);

// A size for a record's message: "12.5 MiB" (six significant digits).
std::string DescribeMiB(uint64_t bytes);

}  // namespace osgv
