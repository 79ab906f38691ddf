// Host directories or files a local `run` binds into its sandbox
// (SandboxSpec::host_mounts), checked once for both the CLI and the bundle.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "lifecycle/bundle/oci_spec.h"
#include "openshell_gvisor/sandbox.h"

namespace osgv {

// OK when the source is an absolute, existing host path and the destination
// an absolute, normalized in-sandbox path that is not "/" and does not
// overlap a reserved OpenShell path. Messages start with `field`.
absl::Status CheckHostMount(const std::string& field, const HostMount& mount);

// The checked mounts as bundle bind mounts, in order.
absl::StatusOr<std::vector<BindMount>> HostBindMounts(const std::vector<HostMount>& mounts);

}  // namespace osgv
