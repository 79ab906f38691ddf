// Where the probes' tools come from inside a sandbox.
//
// A probe that runs the image's `uname` reports on the image as much as on
// the boundary: on an image without it, it can only say "not found". So
// `probe` brings its own tools: the host's statically linked busybox,
// bind-mounted read-only at kProbeBusyboxPath in every probe sandbox, and
// every probe command runs as `busybox <applet>` (its shell prefers its own
// applets over PATH). A static binary needs no loader or library from the
// image, so this works on any image. Without a static busybox on the host
// the probes fall back to the image's tools, and a probe whose tools the
// image lacks reports that it could not run instead of a result.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lifecycle/image/busybox_image.h"
#include "lifecycle/runsc/command_runner.h"
#include "openshell_gvisor/sandbox.h"

namespace osgv {

// Reserved for `probe` inside its sandboxes; a --mount may not overlap it.
inline constexpr char kProbeToolsDir[] = "/.osgv-probe";
inline constexpr char kProbeBusyboxPath[] = "/.osgv-probe/busybox";

// kBusyboxBinary (busybox_image.h) is where Debian's busybox-static puts it.

// The real path of `path` when it is an executable, statically linked
// 64-bit ELF (no PT_INTERP program header) for this host's byte order;
// otherwise FAILED_PRECONDITION (NOT_FOUND when absent) saying why.
absl::StatusOr<std::string> FindStaticBusybox(const std::string& path);

// INVALID_ARGUMENT, naming the --mount, when a destination is
// kProbeToolsDir or below it.
absl::Status CheckMountsLeaveProbeTools(const std::vector<HostMount>& mounts);

class ProbeTools {
 public:
  // Tools from `host_busybox` (a FindStaticBusybox result), brought in.
  static ProbeTools Brought(std::string host_busybox);
  // The image's own tools; `why` says why no busybox was brought.
  static ProbeTools FromImage(std::string why);
  // Brought when FindStaticBusybox(host_busybox) finds one, else FromImage.
  static ProbeTools ForHost(const std::string& host_busybox);

  bool brought() const { return !host_busybox_.empty(); }
  // For the report: where the tools came from.
  std::string Describe() const;

  // The read-only bind mount of the busybox, or none.
  std::vector<HostMount> Mounts() const;
  // {"cat", "/x"} -> {kProbeBusyboxPath, "cat", "/x"} when brought, else
  // {"/bin/sh", "-c", "exec \"$@\"", "sh", "cat", "/x"}.
  std::vector<std::string> Argv(const std::vector<std::string>& argv) const;
  std::vector<std::string> ShArgv(const std::string& script) const;
  // The sandbox's main process: sleeps until the sandbox is deleted.
  std::vector<std::string> KeepAlive() const;

  // A command that prints, one a line, which of `tools` exist inside (the
  // busybox's applets when brought); Learn takes its result.
  std::vector<std::string> ListArgv(const std::vector<std::string>& tools) const;
  void Learn(const CommandResult& listing);
  // "" when every tool in `needed` is there; else why a probe needing them
  // cannot run, e.g. "the image has no uname and no busybox was brought
  // (...)".
  std::string Missing(const std::vector<std::string>& needed) const;

 private:
  std::string host_busybox_;
  std::string why_not_brought_;
  std::set<std::string> available_;
  std::string listing_failure_;  // set when the listing itself failed
};

}  // namespace osgv
