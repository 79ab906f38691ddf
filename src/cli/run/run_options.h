// The command line of `run` and `probe`, parsed into plain data; and the
// SandboxRequest and Config an ephemeral sandbox is created from. Pure (no
// I/O beyond the --mount host-path check), so unit tests cover it all.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "capabilities/config.h"
#include "openshell_gvisor/sandbox.h"

namespace osgv {

struct RunOptions {
  std::string image;           // "" = the busybox image the driver builds
  std::string network = "none";  // none | sandbox
  std::string memory;          // Kubernetes quantity, "" = driver default
  std::string cpu;
  std::map<std::string, std::string> env;
  std::vector<HostMount> mounts;
  bool keep = false;
  std::string state_dir;       // "" = a fresh temporary one
  std::string config_file;     // "" = built-in defaults
  bool json = false;           // probe only
  std::string fixtures_dir;    // probe only: "" = a fresh /var/tmp/osgv-probe-XXXXXX
  std::vector<std::string> command;  // run only: after "--"
};

// "HOST:SANDBOX" or "HOST:SANDBOX:ro" (also ":rw"). Syntax only; see
// CheckHostMount for the checks against the host and the reserved paths.
absl::StatusOr<HostMount> ParseMountSpec(const std::string& spec);

absl::StatusOr<RunOptions> ParseRunArgs(const std::vector<std::string>& args);
absl::StatusOr<RunOptions> ParseProbeArgs(const std::vector<std::string>& args);

// The config file (if any) with the network mode and state dir applied,
// and the layout of an oci: --image (or, without one, the busybox image's
// cache) added to images.oci_roots: the operator chose it.
absl::StatusOr<Config> RunConfig(const RunOptions& options, const std::string& state_dir);

// A request for one ephemeral sandbox: `name` (a DNS label), no token, the
// keep-alive `init` as its main process, limits, env and mounts from options.
SandboxRequest EphemeralRequest(const RunOptions& options, const std::string& name,
                                const std::string& image, std::vector<std::string> init);

}  // namespace osgv
