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
#include <mutex>
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
  uint64_t console_log_max_bytes = 0;  // rotate past this (ConsoleLog); 0 = never
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

// Entry point of `openshell-driver-gvisor monitor --status-fd N --go-fd M`:
// sets the process up, then waits for one line on go_fd naming the
// sandbox's monitor spec (EOF: the driver went away; exit 0). Reports
// {"ok":true,"pid":N} or {"ok":false,"error":"..."} on the status fd once
// the sandbox is started (or failed to), then keeps monitoring. It runs in
// the sandbox's directory (the spec's), which is how a restarted driver
// recognises it (IsMonitorOf).
int RunMonitor(int go_fd, int status_fd);

// Whether live process `pid` is a monitor working for the sandbox whose
// directory is `sandbox_dir` (its cwd and argv say so; a reused pid cannot).
bool IsMonitorOf(int pid, const std::string& sandbox_dir);

struct MonitorHandle {
  int monitor_pid = 0;
  int sandbox_pid = 0;
  double runsc_ms = 0;  // how long runsc create+start (or restore) took in it
};

// Starts a monitor for a sandbox and waits for its start report.
class MonitorLauncher {
 public:
  virtual ~MonitorLauncher() = default;
  virtual absl::StatusOr<MonitorHandle> Launch(const MonitorSpec& spec,
                                               const std::string& spec_path) = 0;
};

// Runs this very binary (/proc/self/exe) as `monitor`, keeping one started
// ahead of need (see monitor_launcher.cc).
class ProcessMonitorLauncher : public MonitorLauncher {
 public:
  ProcessMonitorLauncher(std::string self_exe, std::chrono::milliseconds timeout)
      : self_exe_(std::move(self_exe)), timeout_(timeout) {}
  ~ProcessMonitorLauncher() override;
  absl::StatusOr<MonitorHandle> Launch(const MonitorSpec& spec,
                                       const std::string& spec_path) override;
  // Starts the warm monitor now (at start-up) rather than at the first Launch.
  absl::Status Prime();

 private:
  // A monitor that has loaded and waits for a spec path on go_fd.
  struct Idle {
    int pid = 0;
    int go_fd = -1;      // our end of its hand-over socket
    int status_fd = -1;  // read end of its start-report pipe
  };
  absl::StatusOr<Idle> Spawn();
  absl::StatusOr<Idle> Take();
  // Closes its ends, kills and reaps it.
  static void Discard(const Idle& idle);

  std::string self_exe_;
  std::chrono::milliseconds timeout_;
  std::mutex mu_;
  std::optional<Idle> warm_;  // guarded by mu_
};

}  // namespace osgv
