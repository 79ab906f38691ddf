#include "lifecycle/bundle/host_mounts.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "lifecycle/bundle/reserved_paths.h"

namespace osgv {

absl::Status CheckHostMount(const std::string& field, const HostMount& m) {
  if (m.source.empty() || m.source.front() != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": host path '", m.source, "' must be absolute"));
  }
  struct stat st;
  if (stat(m.source.c_str(), &st) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": host path '", m.source, "': ", strerror(errno)));
  }
  if (m.destination.empty() || m.destination.front() != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": sandbox path '", m.destination, "' must be absolute"));
  }
  // Covering the root would hide the image, and with it the keep-alive.
  if (m.destination.find_first_not_of('/') == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": cannot mount over '/'"));
  }
  return CheckNotReserved(field, m.destination);
}

absl::StatusOr<std::vector<BindMount>> HostBindMounts(const std::vector<HostMount>& mounts) {
  std::vector<BindMount> out;
  for (size_t i = 0; i < mounts.size(); ++i) {
    const HostMount& m = mounts[i];
    if (auto st = CheckHostMount(absl::StrCat("host_mounts[", i, "]"), m); !st.ok()) return st;
    out.push_back({m.source, m.destination, m.read_only});
  }
  return out;
}

}  // namespace osgv
