// What the upstream supervisor needs from its binary and from the image,
// checked before a sandbox is created, so a missing tool is a clear error at
// create instead of a supervisor that dies inside the sandbox (or a sandbox
// that never becomes Ready). docs/supervisor.md, "What the image needs".
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lifecycle/elf_file.h"  // ElfInterpreter, for the supervisor binary

namespace osgv {

// The fixed paths the supervisor looks for its helpers at (upstream
// netns/mod.rs): PATH is never searched.
const std::vector<std::string>& SupervisorIpPaths();
const std::vector<std::string>& SupervisorNsenterPaths();

// Checks the unpacked image at `rootfs_dir` (paths resolved inside it, as
// the sandbox will see them) for what the supervisor runs:
//   - `main_program`, when absolute (the CLI's default is /bin/bash);
//   - iproute2's `ip` at one of SupervisorIpPaths(), not BusyBox's (which
//     has no `ip netns`);
//   - `nsenter` at one of SupervisorNsenterPaths().
// FAILED_PRECONDITION whose message starts with
// "sandbox.spec.template.image:" and names the image and the missing tool.
absl::Status CheckImageForSupervisor(const std::string& rootfs_dir, const std::string& image,
                                     const std::string& main_program);

}  // namespace osgv
