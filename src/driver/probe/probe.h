// Boundary probes: each one tries one way out of a gVisor sandbox and checks
// from the host that nothing got through.
//
// A probe is a small function over a ProbeWorld (the booted sandboxes, the
// host-side bait, and exec into the sandboxes) returning {pass, evidence}.
// Every probe looks at both sides: what the sandbox saw, and a host-side
// fact that would show a leak (the bait is there and unchanged, the host
// value did not move, nothing connected).
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "driver/probe/host_fixtures.h"
#include "driver/run/ephemeral_session.h"
#include "lifecycle/runsc/command_runner.h"

namespace osgv {

struct ProbeResult {
  bool pass = false;
  std::string evidence;
};

struct ProbeSandbox {
  std::string id;
  std::string runsc_id;
  int monitor_pid = 0;
};

class ProbeWorld {
 public:
  ProbeWorld(EphemeralSession* session, HostFixtures* host, RunOptions options, std::string image)
      : session_(session), host_(host), options_(std::move(options)), image_(std::move(image)) {}

  // Boots a sandbox from the probe image; `memory` is a quantity or "",
  // `pids_limit` 0 for the driver default.
  absl::StatusOr<ProbeSandbox> Boot(const std::string& prefix, const std::string& memory = "",
                                    uint64_t pids_limit = 0);
  void Discard(const ProbeSandbox& sandbox);
  // A sandbox that is still running (not killed by a limit probe).
  bool Running(const ProbeSandbox& sandbox);

  // Runs argv in a sandbox; a failure to run at all is exit code 125 with
  // the reason on stderr, so probes only look at one type.
  CommandResult Exec(const ProbeSandbox& sandbox, const std::vector<std::string>& argv,
                     std::chrono::milliseconds timeout = std::chrono::seconds(20));
  CommandResult Sh(const ProbeSandbox& sandbox, const std::string& script,
                   std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    return Exec(sandbox, {"/bin/sh", "-c", script}, timeout);
  }
  CommandResult Sh(const std::string& script) { return Sh(primary, script); }

  HostFixtures& host() { return *host_; }
  const std::string& state_dir() const { return session_->state_dir(); }
  // Host path of the shared, read-only unpacked image (the overlay lower).
  std::string image_rootfs;
  std::string cgroup_root = "/sys/fs/cgroup";

  ProbeSandbox primary;  // most probes run here
  ProbeSandbox other;    // a second sandbox from the same image

 private:
  EphemeralSession* session_;
  HostFixtures* host_;
  RunOptions options_;
  std::string image_;
};

struct ProbeSpec {
  const char* name;
  const char* expectation;
  ProbeResult (*run)(ProbeWorld& world);
};

// Every probe, in the order they run (destructive limit probes last).
const std::vector<ProbeSpec>& BoundaryProbes();

// Helpers shared by the probe files.
ProbeResult Pass(std::string evidence);
ProbeResult Fail(std::string evidence);
// "exit 1: <first line of output>" for evidence columns.
std::string Brief(const CommandResult& r, size_t max_chars = 80);
// Host file contents ("" when unreadable).
std::string HostRead(const std::string& path);
bool Contains(const std::string& haystack, const std::string& needle);

// The probe families (one file each), concatenated by BoundaryProbes().
std::vector<ProbeSpec> FilesystemProbes();
std::vector<ProbeSpec> ProcessProbes();
std::vector<ProbeSpec> KernelProbes();
std::vector<ProbeSpec> NetworkProbes();
std::vector<ProbeSpec> LimitProbes();

}  // namespace osgv
