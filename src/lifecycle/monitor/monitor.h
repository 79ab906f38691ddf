// The per-sandbox monitor: a tiny process, in the spirit of podman's conmon,
// that outlives the driver.
//
// It runs `runsc create` + `start` itself, so the sandbox's host processes
// are re-parented to it (it is a child subreaper). It then owns the main
// process's stdout/stderr pipes (copied to console.log), reaps the sandbox
// promptly (runsc needs that: runsc.md §2, §4), and records the exit status
// durably in the `exit` file before it exits. `runsc wait` could not do
// this: it only answers a waiter that was attached before the exit.
#pragma once

#include <chrono>
#include <optional>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "lifecycle/runsc/runsc.h"

namespace osgv {

struct MonitorSpec {
  RunscOptions runsc;
  std::set<std::string> runsc_flags;  // detected features, so the monitor
                                      // passes the same global flags
  std::string container_id;
  std::string bundle;       // absolute
  std::string console_log;  // main process stdout+stderr, appended
  std::string exit_file;    // written atomically when the sandbox exits
  std::string log_file;     // the monitor's own diagnostics
  std::string restore_image_dir;  // "" = create+start; else restore from it
};

std::string MonitorSpecToJson(const MonitorSpec& spec);
absl::StatusOr<MonitorSpec> MonitorSpecFromJson(const std::string& json);

struct ExitRecord {
  int exit_code = 0;     // the sandbox process's exit code
  int64_t at_ms = 0;
};

absl::Status WriteExitRecord(const std::string& path, const ExitRecord& record);
// nullopt when the file does not exist (the sandbox has not exited).
absl::StatusOr<std::optional<ExitRecord>> ReadExitRecord(const std::string& path);

// Entry point of `openshell-driver-gvisor monitor --spec FILE --status-fd N`.
// Reports {"ok":true,"pid":N} or {"ok":false,"error":"..."} on the status fd
// once the sandbox is started (or failed to), then keeps monitoring.
int RunMonitor(const std::string& spec_path, int status_fd);

struct MonitorHandle {
  int monitor_pid = 0;
  int sandbox_pid = 0;
};

// Starts a monitor for a sandbox and waits for its start report.
class MonitorLauncher {
 public:
  virtual ~MonitorLauncher() = default;
  virtual absl::StatusOr<MonitorHandle> Launch(const MonitorSpec& spec,
                                               const std::string& spec_path) = 0;
};

// Runs this very binary (/proc/self/exe) as `monitor`.
class ProcessMonitorLauncher : public MonitorLauncher {
 public:
  ProcessMonitorLauncher(std::string self_exe, std::chrono::milliseconds timeout)
      : self_exe_(std::move(self_exe)), timeout_(timeout) {}
  absl::StatusOr<MonitorHandle> Launch(const MonitorSpec& spec,
                                       const std::string& spec_path) override;

 private:
  std::string self_exe_;
  std::chrono::milliseconds timeout_;
};

}  // namespace osgv
