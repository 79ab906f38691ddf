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
#include "cli/probe/host_fixtures.h"
#include "cli/probe/probe_report.h"
#include "cli/probe/probe_tools.h"
#include "cli/run/ephemeral_session.h"
#include "lifecycle/runsc/command_runner.h"

namespace osgv {

struct ProbeResult {
  ProbeOutcome outcome = ProbeOutcome::kFail;
  std::string evidence;
};

struct ProbeSandbox {
  std::string id;
  std::string runsc_id;
  int monitor_pid = 0;
};

class ProbeWorld {
 public:
  ProbeWorld(EphemeralSession* session, HostFixtures* host, RunOptions options, std::string image,
             ProbeTools tools)
      : session_(session),
        host_(host),
        options_(std::move(options)),
        image_(std::move(image)),
        tools_(std::move(tools)) {}

  // Boots a sandbox from the probe image, with the probe's tools in it;
  // `memory` is a quantity or "", `pids_limit` 0 for the driver default.
  absl::StatusOr<ProbeSandbox> Boot(const std::string& prefix, const std::string& memory = "",
                                    uint64_t pids_limit = 0);
  void Discard(const ProbeSandbox& sandbox);
  // A sandbox that is still running (not killed by a limit probe).
  bool Running(const ProbeSandbox& sandbox);

  // Runs a tool (argv[0] a bare name: "cat", "uname") in a sandbox, from
  // the probe's tools; a failure to run at all is exit code 125 with the
  // reason on stderr, so probes only look at one type.
  CommandResult Exec(const ProbeSandbox& sandbox, const std::vector<std::string>& argv,
                     std::chrono::milliseconds timeout = std::chrono::seconds(20));
  CommandResult Sh(const ProbeSandbox& sandbox, const std::string& script,
                   std::chrono::milliseconds timeout = std::chrono::seconds(20));
  CommandResult Sh(const std::string& script) { return Sh(primary, script); }

  // Finds out which tools the primary sandbox has (call once it booted).
  void LearnTools(const std::vector<std::string>& needed);
  const ProbeTools& tools() const { return tools_; }

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
  ProbeTools tools_;
  CommandResult RunIn(const ProbeSandbox& sandbox, const std::vector<std::string>& argv,
                      std::chrono::milliseconds timeout);
};

struct ProbeSpec {
  const char* name;
  const char* expectation;
  ProbeResult (*run)(ProbeWorld& world);
  // Every tool it runs inside ("sh" for a script, and each command in it):
  // without one of them the probe cannot run, and says so.
  std::vector<std::string> tools;
};

// Every probe, in the order they run (destructive limit probes last).
const std::vector<ProbeSpec>& BoundaryProbes();
// The union of their tools, plus what every probe sandbox runs.
std::vector<std::string> AllProbeTools();

// Runs `probe` unless its tools are missing; then a could-not-run row.
ProbeRow RunProbe(const ProbeSpec& probe, ProbeWorld& world);

// Helpers shared by the probe files.
ProbeResult Pass(std::string evidence);
// The boundary was crossed: the evidence shows how.
ProbeResult Fail(std::string evidence);
// The probe could not look (a host-side fact it compares with is missing,
// or the command inside did not run): neither a pass nor a failure.
ProbeResult CouldNotRun(std::string why);
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
