#include "lifecycle/bundle/supervisor_needs.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lifecycle/unique_fd.h"

namespace osgv {
namespace {

// Opens `path` inside `root` the way the sandbox will see it: absolute
// symlinks and ".." resolve against the image's root, never the host's
// (the image is untrusted). -1 when it does not resolve.
int OpenInRoot(int root_fd, const std::string& path, int flags) {
  struct open_how how;
  std::memset(&how, 0, sizeof how);
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(syscall(SYS_openat2, root_fd, path.c_str(), &how, sizeof how));
}

bool IsExecutableFile(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111) != 0;
}

// BusyBox's `ip` is the busybox binary itself (a symlink or hard link to
// it), which carries its banner. Reads at most 16 MiB.
bool IsBusybox(int fd) {
  constexpr std::string_view kBanner = "BusyBox v";
  constexpr size_t kLimit = 16u << 20;
  std::string buf(1u << 16, '\0');
  std::string carry;
  size_t total = 0;
  for (;;) {
    ssize_t n = read(fd, buf.data(), buf.size());
    if (n <= 0) return false;
    std::string window = carry + buf.substr(0, static_cast<size_t>(n));
    if (window.find(kBanner) != std::string::npos) return true;
    carry = window.substr(window.size() > kBanner.size() ? window.size() - kBanner.size() : 0);
    total += static_cast<size_t>(n);
    if (total >= kLimit) return false;
  }
}

absl::Status Missing(const std::string& image, const std::string& what) {
  return absl::FailedPreconditionError(
      absl::StrCat("sandbox.spec.template.image: image '", image, "' ", what));
}

}  // namespace

const std::vector<std::string>& SupervisorIpPaths() {
  static const std::vector<std::string> paths = {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip",
                                                 "/bin/ip"};
  return paths;
}

const std::vector<std::string>& SupervisorNsenterPaths() {
  static const std::vector<std::string> paths = {"/usr/bin/nsenter", "/bin/nsenter",
                                                 "/usr/sbin/nsenter", "/sbin/nsenter"};
  return paths;
}

absl::Status CheckImageForSupervisor(const std::string& rootfs_dir, const std::string& image,
                                     const std::string& main_program) {
  UniqueFd root(open(rootfs_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (root.get() < 0) {
    return absl::InternalError(absl::StrCat("image root '", rootfs_dir, "': ", std::strerror(errno)));
  }
  if (!main_program.empty() && main_program[0] == '/') {
    UniqueFd f(OpenInRoot(root.get(), main_program, O_PATH));
    if (f.get() < 0 || !IsExecutableFile(f.get())) {
      return Missing(image, absl::StrCat(
                                "has no executable ", main_program,
                                ", the sandbox's main process (sandbox.spec.command[0]; the "
                                "OpenShell CLI runs /bin/bash -l unless given a command)"));
    }
  }
  bool found_ip = false;
  for (const auto& path : SupervisorIpPaths()) {
    // O_NONBLOCK: an image's FIFO at this path must not block the open.
    UniqueFd f(OpenInRoot(root.get(), path, O_RDONLY | O_NONBLOCK));
    if (f.get() < 0 || !IsExecutableFile(f.get())) continue;
    if (IsBusybox(f.get())) {
      return Missing(image, absl::StrCat(
                                "has BusyBox's ip at ", path,
                                ", which lacks `ip netns`; the OpenShell supervisor needs "
                                "iproute2's ip (Debian package iproute2)"));
    }
    found_ip = true;
    break;
  }
  if (!found_ip) {
    return Missing(image, absl::StrCat("has no ip (iproute2) at any of ",
                                       absl::StrJoin(SupervisorIpPaths(), ", "),
                                       "; the OpenShell supervisor needs it for the workload's "
                                       "network namespace"));
  }
  for (const auto& path : SupervisorNsenterPaths()) {
    UniqueFd f(OpenInRoot(root.get(), path, O_PATH));
    if (f.get() >= 0 && IsExecutableFile(f.get())) return absl::OkStatus();
  }
  return Missing(image, absl::StrCat("has no nsenter (util-linux) at any of ",
                                     absl::StrJoin(SupervisorNsenterPaths(), ", "),
                                     "; the OpenShell supervisor needs it for the workload's "
                                     "network namespace"));
}

}  // namespace osgv
