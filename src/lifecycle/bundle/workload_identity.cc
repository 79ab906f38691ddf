#include "lifecycle/bundle/workload_identity.h"

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace osgv {

std::string WorkloadUserSpec(const SandboxSpec& spec, const std::string& image_user) {
  if (spec.workload_user.empty() && spec.workload_group.empty()) return image_user;
  std::vector<std::string> parts = absl::StrSplit(image_user, absl::MaxSplits(':', 1));
  std::string user = !spec.workload_user.empty() ? spec.workload_user
                     : !parts[0].empty()          ? parts[0]
                                                  : "0";
  // An explicit user without a group takes that user's own groups, not the
  // group the image named for its USER.
  std::string group = !spec.workload_group.empty() ? spec.workload_group
                      : spec.workload_user.empty() && parts.size() == 2 ? parts[1]
                                                                        : "";
  return group.empty() ? user : absl::StrCat(user, ":", group);
}

absl::StatusOr<ResolvedUser> ResolveWorkloadUser(const SandboxSpec& spec,
                                                 const std::string& image_user,
                                                 const std::string& rootfs) {
  auto resolved = ResolveImageUser(WorkloadUserSpec(spec, image_user), rootfs);
  if (resolved.ok()) return resolved;
  // ResolveImageUser says "no user '...'" or "no group '...'"; the field is
  // named only when the gateway's selector is the one missing.
  const bool user_missing = absl::StrContains(resolved.status().message(), "no user '");
  const std::string& selector = user_missing ? spec.workload_user : spec.workload_group;
  if (selector.empty()) return resolved;
  return absl::Status(resolved.status().code(),
                      absl::StrCat("sandbox.spec.workload_identity.",
                                   user_missing ? "user" : "group", ": ",
                                   resolved.status().message()));
}

}  // namespace osgv
