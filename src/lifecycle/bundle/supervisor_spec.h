// The OpenShell supervisor as a sandbox's first process
// (gateway-contract.md §6.1-6.5, docs/supervisor.md).
//
// runsc starts /opt/openshell/bin/openshell-sandbox as root with the
// capabilities it needs for its own set-up; the supervisor then starts the
// request's main process (from OPENSHELL_MAIN_PROCESS_SPEC) as the sandbox
// user with an empty bounding set. The binary, the token and the client TLS
// files are read-only bind mounts of host files.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "capabilities/config.h"
#include "lifecycle/bundle/oci_spec.h"
#include "lifecycle/image/image_store.h"
#include "openshell_gvisor/sandbox.h"

namespace osgv {

struct SupervisorInputs {
  const Config* config = nullptr;
  const SandboxRequest* request = nullptr;
  const ImageConfig* image = nullptr;
  // Host path of this sandbox's token file (TokenFilePath) when it exists;
  // "" = no token: no mount and no OPENSHELL_SANDBOX_TOKEN_FILE.
  std::string token_file;
  std::string telemetry_enabled = "true";  // DriverTelemetryEnabled()
  // The unpacked image, checked for what the supervisor runs
  // (CheckImageForSupervisor); "" skips the check, and so does a "#!"
  // stand-in for the supervisor, which needs none of its tools.
  std::string rootfs_dir;
};

struct SupervisorSpec {
  ProcessOverride process;       // SpecInputs::supervisor
  std::vector<BindMount> mounts;  // SpecInputs::extra_mounts
};

// supervisor.binary is set.
bool SupervisorEnabled(const Config& config);

// The capability set the supervisor starts with (§6.5), each one's purpose
// commented in the .cc.
const std::vector<std::string>& SupervisorCapabilities();

// [kSupervisorBinaryPath, "--workdir", workdir, extra_args...]. Never a
// trailing positional command: one would override OPENSHELL_MAIN_PROCESS_SPEC.
std::vector<std::string> SupervisorArgs(const SupervisorConfig& supervisor);

// FAILED_PRECONDITION naming the key for configuration that cannot start a
// supervisor: no binary, no gateway.endpoint, a partial TLS trio, a workdir
// that overlaps a reserved path, or a bare "--" in extra_args (everything
// after it would be positional). FAILED_PRECONDITION naming
// sandbox.spec.template.image for an image that lacks the main program, ip
// or nsenter (supervisor_needs.h).
absl::StatusOr<SupervisorSpec> BuildSupervisorSpec(const SupervisorInputs& in);

// Stats supervisor.binary and the TLS files on the host: FAILED_PRECONDITION
// naming the key when one is missing or not a regular file, or when the
// binary is not a static executable (it runs from arbitrary images, whose
// loader and libraries it cannot count on). Reads only the binary's ELF
// headers. For start-up checks and before writing a bundle, so a typo is
// not reported as an obscure runsc error.
absl::Status CheckSupervisorHostFiles(const Config& config);

}  // namespace osgv
