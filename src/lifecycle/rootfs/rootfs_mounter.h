// Each sandbox's root filesystem: the shared, read-only image rootfs as the
// overlayfs lower dir, plus a per-sandbox upper/work dir on disk, mounted at
// <bundle>/rootfs. runsc.md §5: this works with runsc and with
// checkpoint/restore, keeps every write on disk (so it survives a failed
// checkpoint or a driver crash), and never changes the image cache.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace osgv {

class RootfsMounter {
 public:
  virtual ~RootfsMounter() = default;
  virtual absl::Status MountOverlay(const std::string& lower, const std::string& upper,
                                    const std::string& work, const std::string& target) = 0;
  // OK when nothing is mounted there.
  virtual absl::Status Unmount(const std::string& target) = 0;
  virtual bool IsMounted(const std::string& target) = 0;
  // Mount points at or below `prefix`, deepest first.
  virtual std::vector<std::string> MountsUnder(const std::string& prefix) = 0;
};

// The real thing: mount(2)/umount2(2) and /proc/self/mountinfo.
class OverlayMounter : public RootfsMounter {
 public:
  absl::Status MountOverlay(const std::string& lower, const std::string& upper,
                            const std::string& work, const std::string& target) override;
  absl::Status Unmount(const std::string& target) override;
  bool IsMounted(const std::string& target) override;
  std::vector<std::string> MountsUnder(const std::string& prefix) override;
};

}  // namespace osgv
