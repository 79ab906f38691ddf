// A sandbox's lifecycle phase (docs/lifecycle.md, "Phases"), and its one
// text codec: the spelling stored in the state database's `phase` column,
// in sandbox archives and in every snapshot. The spellings never change, so
// a state dir or an archive written by an earlier driver still loads.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace osgv {

enum class SandboxPhase {
  kProvisioning,
  kRunning,
  kExited,    // main process ended: terminal
  kFailed,    // provisioning or runtime failure
  kDeleting,
  kStopping,  // checkpoint in progress
  kStopped,   // Suspended=True
  kStarting,  // restore or cold start in progress
  // Stored by a newer driver under a name this one does not know: kept as
  // it is by recovery, shown as "unknown".
  kUnknown,
};

// The short name the manager's files use: phase::kRunning.
using phase = SandboxPhase;

// "provisioning", "running", ...
const char* PhaseName(SandboxPhase phase);
// The phase a stored name spells; nullopt for a name no driver wrote.
std::optional<SandboxPhase> ParsePhase(std::string_view name);
// ParsePhase, with kUnknown for a name this driver does not know.
SandboxPhase PhaseOrUnknown(std::string_view name);

}  // namespace osgv
