#include "lifecycle/sandbox_status.h"

#include <ctime>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace osgv {

bool IsTransientReason(const std::string& reason) {
  static const char* const kTransient[] = {
      "reconcilererror",   "dependenciesnotready", "supervisornotconnected",
      "starting",          "containerstarting",    "containercreated",
      "healthcheckstarting", "inspectfailed"};
  std::string lower = absl::AsciiStrToLower(reason);
  for (const char* t : kTransient) {
    if (lower == t) return true;
  }
  return false;
}

std::string Rfc3339(int64_t unix_ms) {
  time_t secs = static_cast<time_t>(unix_ms / 1000);
  struct tm tm_utc;
  gmtime_r(&secs, &tm_utc);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm_utc);
  return absl::StrCat(buf, ".", absl::Dec(unix_ms % 1000, absl::kZeroPad3), "Z");
}

std::string DescribeMiB(uint64_t bytes) {
  return absl::StrCat(absl::SixDigits(static_cast<double>(bytes) / (1 << 20)), " MiB");
}

std::string DescribeExit(int exit_code) {
  // runsc's sandbox process exits 128+N when the main process died of
  // signal N, the shell convention.
  if (exit_code > 128 && exit_code < 128 + 65) {
    return absl::StrCat("main process exited with code ", exit_code, " (killed by signal ",
                        exit_code - 128, ")");
  }
  return absl::StrCat("main process exited with code ", exit_code);
}

SandboxSnapshot SnapshotOf(const SandboxRecord& r) {
  SandboxSnapshot s;
  s.id = r.id;
  s.name = r.name;
  s.namespace_name = r.namespace_name;
  s.workspace = r.workspace;
  s.status.sandbox_name = r.name;
  s.status.instance_id = r.runsc_id;
  s.phase = r.phase;

  if (r.phase == phase::kStopped) {
    // Suspended=True alone: the gateway maps it to Stopped from every stored
    // phase. A Ready=False/ContainerStopped beside it would turn a Starting
    // row into Error if this snapshot arrived late (gateway-contract §4.7).
    Condition suspended;
    suspended.type = "Suspended";
    suspended.status = "True";
    suspended.reason = r.reason.empty() ? std::string(reason::kCheckpointed) : r.reason;
    suspended.message = r.message;
    suspended.last_transition_time = Rfc3339(r.updated_at_ms);
    s.status.conditions.push_back(suspended);
    return s;
  }

  Condition ready;
  ready.type = "Ready";
  ready.last_transition_time = Rfc3339(r.updated_at_ms);
  ready.message = r.message;
  if (r.phase == phase::kRunning || r.phase == phase::kStopping) {
    // While checkpointing the sandbox still runs; the gateway keeps its own
    // Stopping phase until StopSandbox returns.
    ready.status = "True";
    ready.reason = reason::kBackendReady;
  } else if (r.phase == phase::kProvisioning || r.phase == phase::kStarting) {
    ready.status = "False";
    ready.reason = reason::kStarting;
  } else if (r.phase == phase::kDeleting) {
    // The gateway ignores snapshots of rows it is deleting; `deleting` says
    // it all. Keep Ready transient so nothing reads this as a failure.
    ready.status = "False";
    ready.reason = reason::kStarting;
    s.status.deleting = true;
  } else {
    // exited / failed: a real, terminal failure with its specific reason.
    ready.status = "False";
    ready.reason = r.reason.empty() ? std::string(reason::kContainerStartFailed) : r.reason;
  }
  s.status.conditions.push_back(ready);
  return s;
}

}  // namespace osgv
