// Filesystem probes: the host's files stay out of reach, and the sandbox's
// writes stay in its own layer.
#include <algorithm>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "cli/probe/probe.h"
#include "lifecycle/image/digest.h"

namespace osgv {
namespace {

// The host sentinel must still hold the secret (else the probe proves
// nothing), and nothing the sandbox printed may contain it.
ProbeResult SecretStaysOut(ProbeWorld& w, const CommandResult& inside) {
  if (!Contains(HostRead(w.host().sentinel), w.host().secret)) {
    return CouldNotRun("host sentinel unreadable on the host itself; nothing to compare with");
  }
  if (Contains(inside.stdout_text + inside.stderr_text, w.host().secret)) {
    return Fail(absl::StrCat("secret read inside: ", Brief(inside)));
  }
  return Pass(absl::StrCat("host reads it; sandbox: ", Brief(inside)));
}

ProbeResult HostFileByPath(ProbeWorld& w) {
  return SecretStaysOut(w, w.Exec(w.primary, {"cat", w.host().sentinel}));
}

ProbeResult HostFileViaProc1Root(ProbeWorld& w) {
  return SecretStaysOut(w, w.Exec(w.primary, {"cat", "/proc/1/root" + w.host().sentinel}));
}

ProbeResult HostFileViaSymlink(ProbeWorld& w) {
  return SecretStaysOut(
      w, w.Sh(absl::StrCat("ln -sf '", w.host().sentinel, "' /tmp/p1; ln -sfn / /tmp/p2; ",
                           "cat /tmp/p1 /tmp/p2'", w.host().sentinel, "'")));
}

ProbeResult HostFileViaDotDot(ProbeWorld& w) {
  return SecretStaysOut(
      w, w.Sh(absl::StrCat("cd /tmp && cat ../../../../../../..", w.host().sentinel,
                           " /proc/self/cwd/../../../..", w.host().sentinel)));
}

// Every fd, cwd and root any sandbox process holds: none leads to the host
// directory, and no open regular file holds the secret.
ProbeResult HostFileViaProcFds(ProbeWorld& w) {
  auto r = w.Sh(
      "for f in /proc/[0-9]*/fd/* /proc/[0-9]*/cwd /proc/[0-9]*/root; do "
      "readlink \"$f\"; [ -f \"$f\" ] && head -c 65536 \"$f\"; done 2>/dev/null; echo scanned");
  if (Contains(r.stdout_text, w.host().dir)) return Fail("a sandbox fd points into the host dir");
  if (!Contains(r.stdout_text, "scanned")) return CouldNotRun(absl::StrCat("scan did not run: ", Brief(r)));
  return SecretStaysOut(w, r);
}

ProbeResult PasswdIsImages(ProbeWorld& w) {
  auto r = w.Exec(w.primary, {"cat", "/etc/passwd"});
  std::string image = HostRead(w.image_rootfs + "/etc/passwd");
  std::string host = HostRead("/etc/passwd");
  if (image.empty()) return CouldNotRun("image has no /etc/passwd to compare with");
  if (r.stdout_text != image) return Fail(absl::StrCat("differs from the image's: ", Brief(r)));
  if (r.stdout_text == host) return Fail("identical to the host's /etc/passwd");
  return Pass(absl::StrCat("image's ", image.size(), " bytes; host's ", host.size(), " bytes differ"));
}

// The sandbox writes into a file of the shared image; the cached image
// file on the host must hash the same before and after.
ProbeResult ImageCacheUnchanged(ProbeWorld& w) {
  const std::string cached = w.image_rootfs + "/etc/passwd";
  const bool had_true = std::filesystem::exists(w.image_rootfs + "/bin/true");
  auto before = Sha256File(cached);
  auto r = w.Sh("echo osgv-probe-write >> /etc/passwd && rm -f /bin/true && touch /osgv-new && "
                "grep -c osgv-probe-write /etc/passwd");
  auto after = Sha256File(cached);
  if (!before.ok()) return CouldNotRun("cannot hash the cached image's /etc/passwd");
  if (!after.ok()) return Fail("cached image /etc/passwd gone after the write");
  if (*before != *after) return Fail("cached image /etc/passwd changed");
  if (had_true != std::filesystem::exists(w.image_rootfs + "/bin/true") ||
      std::filesystem::exists(w.image_rootfs + "/osgv-new")) {
    return Fail("cached image tree changed");
  }
  if (r.exit_code != 0) return CouldNotRun(absl::StrCat("the write inside failed: ", Brief(r)));
  return Pass(absl::StrCat("write took inside; cache ", before->substr(7, 12), " unchanged"));
}

// A second sandbox from the same image sees none of the first one's writes.
ProbeResult OtherSandboxIsolated(ProbeWorld& w) {
  auto random = RandomToken(6);
  if (!random.ok()) return Fail(std::string(random.status().message()));
  const std::string token = *random;
  auto wrote = w.Sh(absl::StrCat("echo ", token, " > /tmp/cross && cat /tmp/cross"));
  auto seen = w.Sh(w.other, "cat /tmp/cross /etc/passwd; ls /osgv-new");
  if (!Contains(wrote.stdout_text, token)) {
    return CouldNotRun(absl::StrCat("write in the first sandbox failed: ", Brief(wrote)));
  }
  if (Contains(seen.stdout_text, token) || Contains(seen.stdout_text, "osgv-probe-write") ||
      seen.exit_code == 0) {
    return Fail(absl::StrCat("second sandbox sees it: ", Brief(seen)));
  }
  return Pass(absl::StrCat("second sandbox: ", Brief(seen, 60)));
}

// A tmpfs mounted inside with a unique source name never shows up in the
// host's mount table.
ProbeResult MountStaysInside(ProbeWorld& w) {
  auto random = RandomToken(6);
  if (!random.ok()) return Fail(std::string(random.status().message()));
  const std::string source = "osgvmnt" + *random;
  auto r = w.Sh(absl::StrCat("mkdir -p /tmp/m && mount -t tmpfs ", source, " /tmp/m; echo rc=$?"));
  if (Contains(HostRead("/proc/self/mountinfo"), source) ||
      Contains(HostRead("/proc/1/mountinfo"), source)) {
    return Fail("the mount appeared on the host");
  }
  return Pass(absl::StrCat("host mount table clean; sandbox: ", Brief(r)));
}

// The host's mount table names the sandbox's own rootfs under the state
// dir; the sandbox's must not name any host path.
ProbeResult HostMountsInvisible(ProbeWorld& w) {
  auto r = w.Exec(w.primary, {"cat", "/proc/self/mountinfo"});
  if (!Contains(HostRead("/proc/self/mountinfo"), w.state_dir())) {
    return CouldNotRun("host mount table does not show the sandbox rootfs; nothing to compare with");
  }
  if (Contains(r.stdout_text, w.state_dir()) || Contains(r.stdout_text, "/var/lib") ||
      Contains(r.stdout_text, w.host().dir)) {
    return Fail(absl::StrCat("host paths in the sandbox mount table: ", Brief(r)));
  }
  return Pass(absl::StrCat("no host path among ", std::count(r.stdout_text.begin(), r.stdout_text.end(), '\n'),
                           " sandbox mounts"));
}

}  // namespace

std::vector<ProbeSpec> FilesystemProbes() {
  return {
      {"host_file_by_path", "host sentinel unreadable by its path", HostFileByPath, {"cat"}},
      {"host_file_via_proc1_root", "not via /proc/1/root", HostFileViaProc1Root, {"cat"}},
      {"host_file_via_symlink", "not via symlinks", HostFileViaSymlink, {"sh", "ln", "cat"}},
      {"host_file_via_dotdot", "not via .. walks", HostFileViaDotDot, {"sh", "cat"}},
      {"host_file_via_proc_fds", "no fd/cwd/root leads out", HostFileViaProcFds,
       {"sh", "readlink", "head"}},
      {"passwd_is_images", "/etc/passwd is the image's", PasswdIsImages, {"cat"}},
      {"image_cache_unchanged", "writes never reach the cache", ImageCacheUnchanged,
       {"sh", "rm", "touch", "grep"}},
      {"other_sandbox_isolated", "writes invisible to a 2nd sandbox", OtherSandboxIsolated,
       {"sh", "cat", "ls"}},
      {"mount_stays_inside", "mount fails or stays inside", MountStaysInside, {"sh", "mkdir", "mount"}},
      {"host_mounts_invisible", "no host path in mountinfo", HostMountsInvisible, {"cat"}},
  };
}

}  // namespace osgv
