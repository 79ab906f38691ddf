#include "openshell_gvisor/sandbox_phase.h"

namespace osgv {
namespace {

using P = SandboxPhase;

constexpr struct {
  P phase;
  const char* name;
} kNames[] = {
    {P::kProvisioning, "provisioning"}, {P::kRunning, "running"},   {P::kExited, "exited"},
    {P::kFailed, "failed"},             {P::kDeleting, "deleting"}, {P::kStopping, "stopping"},
    {P::kStopped, "stopped"},           {P::kStarting, "starting"},
};

}  // namespace

const char* PhaseName(SandboxPhase phase) {
  for (const auto& n : kNames) {
    if (n.phase == phase) return n.name;
  }
  return "unknown";
}

std::optional<SandboxPhase> ParsePhase(std::string_view name) {
  for (const auto& n : kNames) {
    if (name == n.name) return n.phase;
  }
  return std::nullopt;
}

SandboxPhase PhaseOrUnknown(std::string_view name) {
  return ParsePhase(name).value_or(SandboxPhase::kUnknown);
}

}  // namespace osgv
