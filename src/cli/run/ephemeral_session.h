// Ephemeral sandboxes for `run` and `probe`: a private state dir, the same
// DriverRuntime (and so the same SandboxManager code) as `serve`, and a
// cleanup that leaves no runsc container, mount, cgroup or state dir behind.
//
// The sandbox's main process is a keep-alive (`sleep`), and commands run in
// it through `runsc exec`, the path `exec` uses: that gives real stdin, a
// tty, and the command's own exit status, none of which the main process
// has (its stdio belongs to the monitor, which outlives the driver).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/driver_runtime.h"
#include "cli/run/interrupts.h"
#include "cli/run/run_options.h"

namespace osgv {

// Sleeps until deleted; busybox and coreutils both accept this number.
inline const std::vector<std::string> kKeepAlive = {"/bin/sleep", "2147483647"};

// "<prefix>-<12 random hex digits>": a fresh DNS-label sandbox name.
// INTERNAL when the CSPRNG fails.
absl::StatusOr<std::string> EphemeralName(const std::string& prefix);

class EphemeralSession {
 public:
  // Makes the state dir (mkdtemp under /var/tmp, else /tmp, 0700) unless
  // options.state_dir names one, and opens the runtime on it.
  static absl::StatusOr<std::unique_ptr<EphemeralSession>> Open(const RunOptions& options);
  ~EphemeralSession();  // Cleanup(), unless Keep() was called

  // options.image, or the busybox image (built once, cached).
  absl::StatusOr<std::string> ResolveImage();
  // Creates the sandbox and waits until it runs; on failure it is deleted.
  absl::StatusOr<SandboxRecord> Boot(const SandboxRequest& request);
  // Runs argv in the sandbox with stdin from /dev/null and output captured.
  absl::StatusOr<CommandResult> Exec(const std::string& runsc_id, const std::vector<std::string>& argv,
                                     std::chrono::milliseconds timeout);
  // Runs argv in the sandbox on our own stdio (a terminal stays one).
  absl::StatusOr<CommandResult> ExecAttached(const std::string& runsc_id,
                                             const std::vector<std::string>& argv);
  absl::Status Delete(const std::string& sandbox_id);

  // First interrupt: delete every sandbox, which also ends a running exec.
  // Safe from another thread while the main thread is in Boot or Exec.
  void Interrupt();
  // Second interrupt: no manager, no locks; runsc delete --force, lazy
  // unmounts and removal of the temporary state dir, then the caller exits.
  void EmergencyCleanup();
  // Deletes every sandbox, stops the runtime, removes a temporary state dir.
  absl::Status Cleanup();
  // Leave everything in place (--keep); the destructor then only stops the
  // runtime, and the sandboxes keep running.
  void Keep() { keep_ = true; }

  const std::string& state_dir() const { return state_dir_; }
  DriverRuntime& runtime() { return *rt_; }
  bool interrupted() const { return interrupted_; }

 private:
  EphemeralSession() = default;
  absl::Status DeleteAll();

  RunOptions options_;
  std::string state_dir_;
  bool temporary_ = false;
  bool keep_ = false;
  bool cleaned_ = false;
  std::atomic<bool> interrupted_{false};
  std::mutex cleanup_mu_;
  std::unique_ptr<DriverRuntime> rt_;
  // Copies for EmergencyCleanup, which must not touch rt_.
  RunscOptions runsc_options_;
  RunscFeatures runsc_features_;
};

// Ctrl-C, SIGTERM and SIGHUP while `session` is open: the first one
// interrupts it (Interrupt(), the normal cleanup follows); a second one
// does EmergencyCleanup() and exits 128+N at once. `session` must outlive
// the handler.
InterruptHandler HandleInterrupts(EphemeralSession& session);

}  // namespace osgv
