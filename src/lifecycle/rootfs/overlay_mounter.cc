#include <sys/mount.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "lifecycle/rootfs/rootfs_mounter.h"

namespace osgv {
namespace {

// mountinfo escapes blanks and backslashes as octal (\040 etc.).
std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      int v = (s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0');
      out.push_back(static_cast<char>(v));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::vector<std::string> MountPoints() {
  std::vector<std::string> out;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, mount_point;
    fields >> id >> parent >> devno >> root >> mount_point;
    out.push_back(Unescape(mount_point));
  }
  return out;
}

}  // namespace

absl::Status OverlayMounter::MountOverlay(const std::string& lower, const std::string& upper,
                                          const std::string& work, const std::string& target) {
  for (const auto& p : {lower, upper, work}) {
    if (p.find_first_of(",:") != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("overlay path has ',' or ':': ", p));
    }
  }
  std::string opts = absl::StrCat("lowerdir=", lower, ",upperdir=", upper, ",workdir=", work);
  // The image's content is untrusted: on the host, no set-uid bit in it
  // may raise a host process's privileges and no device node in it may
  // open a host device. (Inside the sandbox gVisor applies its own rules.)
  if (mount("overlay", target.c_str(), "overlay", MS_NOSUID | MS_NODEV, opts.c_str()) != 0) {
    return absl::InternalError(
        absl::StrCat("mount overlay on ", target, " (", opts, "): ", strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status OverlayMounter::Unmount(const std::string& target) {
  if (!IsMounted(target)) return absl::OkStatus();
  // Lazy detach: a sandbox process that is still exiting may hold it briefly.
  if (umount2(target.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
    return absl::InternalError(absl::StrCat("umount ", target, ": ", strerror(errno)));
  }
  return absl::OkStatus();
}

bool OverlayMounter::IsMounted(const std::string& target) {
  auto mounts = MountPoints();
  return std::find(mounts.begin(), mounts.end(), target) != mounts.end();
}

std::vector<std::string> OverlayMounter::MountsUnder(const std::string& prefix) {
  std::vector<std::string> out;
  for (const auto& m : MountPoints()) {
    if (m == prefix || m.rfind(prefix + "/", 0) == 0) out.push_back(m);
  }
  std::sort(out.begin(), out.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  return out;
}

}  // namespace osgv
