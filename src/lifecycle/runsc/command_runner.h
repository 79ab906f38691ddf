// The one place that fork/execs external tools (runsc, skopeo, ip, nft).
//
// Always an argv vector, never a shell string; always a timeout; the tool's
// stderr is captured and returned so callers can put it into their error.
// Always by absolute path, with a minimal environment (tool_paths.h).
// A fake implementation lets unit tests script runsc without running it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace osgv {

struct Command {
  // argv[0] is the program: an absolute path, or a bare name looked up in
  // kToolSearchPath (tool_paths.h). A relative path is INVALID_ARGUMENT.
  std::vector<std::string> argv;
  std::chrono::milliseconds timeout{60000};
  // -1: stdin is /dev/null, stdout and stderr are captured.
  // Otherwise the fd is handed to the child as that stdio stream as is.
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
  // Put the child in its own process group so a timeout kills everything it
  // started. Off for interactive passthrough (the tty's foreground group).
  bool own_process_group = true;
  // runsc create/start/run/restore with --network=sandbox only: run the
  // child in a private mount namespace with an empty tmpfs over
  // /proc/sys/net. This runsc takes "/proc/sys/net/core/rmem_default
  // exists" to mean "root netns" and refuses, but on kernels >= 6.x that
  // sysctl exists in every netns (runsc.md §6). The mask also disables that
  // guard, so the caller must first check that the sandbox's netns is not
  // ours (CheckNotHostNetns in lifecycle/network/sandbox_network.h). Needs
  // CAP_SYS_ADMIN; if the mask cannot be set up the child exits 127 with
  // "mask /proc/sys/net: ..." on stderr and runsc never runs.
  bool mask_proc_sys_net = false;
};

struct CommandResult {
  int exit_code = 0;      // valid when signal == 0
  int signal = 0;         // terminating signal, 0 if it exited
  bool timed_out = false;
  std::string stdout_text;
  std::string stderr_text;

  bool ok() const { return !timed_out && signal == 0 && exit_code == 0; }
  // "exit code 128: <stderr>", "killed by signal 9", "timed out after 60s".
  std::string Describe() const;
};

class CommandRunner {
 public:
  virtual ~CommandRunner() = default;
  // Errors only when no child could be started (fork or pipe failed, or
  // argv[0] is a relative path), or CANCELLED once AbandonAll was called.
  // A program that cannot be executed or found is a result with exit code
  // 127 and "exec failed" on stderr, as from a shell; a non-zero exit is a
  // result. The child's environment is ToolEnvironment(), never this
  // process's.
  virtual absl::StatusOr<CommandResult> Run(const Command& command) = 0;
  // At shutdown, for the operations that did not finish in time: kills
  // every command running now (its whole process group), whose Run then
  // returns CANCELLED with the stderr read so far, and refuses every later
  // one the same way. Irreversible.
  virtual void AbandonAll() = 0;
};

// Runs commands as child processes of this process.
class ProcessRunner : public CommandRunner {
 public:
  ProcessRunner();
  ~ProcessRunner() override;
  ProcessRunner(const ProcessRunner&) = delete;
  ProcessRunner& operator=(const ProcessRunner&) = delete;

  absl::StatusOr<CommandResult> Run(const Command& command) override;
  void AbandonAll() override;

 private:
  // The children running now (pid -> whether it leads its own group),
  // each until just before it is reaped, so a pid killed here is never
  // one the kernel has reused.
  bool Track(pid_t pid, bool group);
  void Forget(pid_t pid);
  bool abandoned();

  std::mutex mu_;
  bool abandoned_ = false;
  std::map<pid_t, bool> children_;
  // Readable once abandoned: wakes every Run waiting in poll().
  int wake_fd_ = -1;
};

}  // namespace osgv
