// Who the workload runs as: the image's USER, unless a v0.1.x/Ryno gateway
// sent WorkloadIdentityRequest selectors (sandbox.h: workload_user,
// workload_group; validated by generation_validation.h to "", "sandbox" or a
// number). Names resolve against the image's own /etc/passwd and
// /etc/group (ResolveImageUser), never the host's.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "lifecycle/bundle/oci_spec.h"
#include "openshell_gvisor/sandbox.h"

namespace osgv {

// The `User` string to resolve: the image's, with the user part replaced by
// spec.workload_user and the group part by spec.workload_group when set
// ("" and "" = `image_user` unchanged, which is every pin-era sandbox). A
// group without a user keeps the image's user ("0" when it has none).
std::string WorkloadUserSpec(const SandboxSpec& spec, const std::string& image_user);

// ResolveImageUser of WorkloadUserSpec. A selector the image lacks (no
// "sandbox" account) is FAILED_PRECONDITION naming
// sandbox.spec.workload_identity.user or .group.
absl::StatusOr<ResolvedUser> ResolveWorkloadUser(const SandboxSpec& spec,
                                                 const std::string& image_user,
                                                 const std::string& rootfs);

}  // namespace osgv
