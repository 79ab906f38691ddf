// runsc, spoken through the one CommandRunner.
//
// Every call carries the same global flags (runsc.md "recommended global
// flags"): --root inside our state dir, the configured platform, the network
// mode (none, or sandbox with a netns we prepared: docs/network.md),
// --overlay2=none so rootfs writes land in
// our overlay upper dir rather than a sandbox-private filestore, and
// --net-disconnect-ok when this runsc has it (checkpoints with open TCP
// connections would otherwise kill the sandbox).
#pragma once

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "lifecycle/runsc/command_runner.h"

namespace osgv {

struct RunscOptions {
  std::string path = "runsc";
  std::string root;  // absolute; runsc's --root
  std::string platform = "systrap";
  std::chrono::milliseconds timeout{60000};
  std::string debug_log_dir;  // "" = off
  // "none" (loopback only) or "sandbox": runsc scrapes the netns named in
  // the bundle, `netns_path`. Networked create/start/restore run with
  // /proc/sys/net masked (runsc.md §6), after checking that the netns is
  // not the host's own.
  std::string network = "none";
  std::string netns_path;
  // checkpoint.io: direct. Allows `checkpoint --direct` (CheckpointUsesDirectIo).
  bool direct_checkpoint = false;
};

struct RunscFeatures {
  std::string version;  // "0.0~20240729.0"
  // Detected flag names, without dashes: global flags bare ("overlay2"),
  // a subcommand's own flags qualified by it ("checkpoint.direct",
  // "restore.direct"), so the one set that reaches the monitor (its spec's
  // runsc flags) carries both.
  std::set<std::string> flags;
  bool Has(const std::string& flag) const { return flags.count(flag) > 0; }
};

struct ContainerState {
  std::string id;
  std::string status;  // created | running | paused | stopped
  int pid = -1;        // host pid of the sandbox process
  std::string bundle;
};

class Runsc {
 public:
  Runsc(CommandRunner* runner, RunscOptions options);

  // Probes `runsc --version`, `runsc flags` and `runsc help checkpoint` /
  // `restore`; the result decides the flags used by every later call.
  absl::StatusOr<RunscFeatures> Detect();
  void SetFeatures(RunscFeatures features) { features_ = std::move(features); }
  const RunscFeatures& features() const { return features_; }
  const RunscOptions& options() const { return options_; }

  // `create` with the container's stdio wired to the given fds (pipes).
  // `pid_file` receives the sandbox's host pid (saves a `runsc state`).
  absl::Status Create(const std::string& id, const std::string& bundle,
                      const std::string& pid_file, int stdin_fd, int stdout_fd, int stderr_fd);
  absl::Status Start(const std::string& id);
  // `restore --detach` from a checkpoint image, stdio wired like Create;
  // with --direct when RestoreUsesDirectIo.
  absl::Status Restore(const std::string& id, const std::string& bundle,
                       const std::string& image_dir, const std::string& pid_file,
                       int stdin_fd, int stdout_fd, int stderr_fd);
  // `checkpoint` (never --leave-running). compression: flate | none. With
  // `none`, when direct_checkpoint is set, this runsc has `checkpoint
  // --direct` and the image's file system takes O_DIRECT, the pages file
  // bypasses the page cache (CheckpointUsesDirectIo).
  absl::Status Checkpoint(const std::string& id, const std::string& image_dir,
                          const std::string& compression, std::chrono::milliseconds timeout);
  absl::StatusOr<std::optional<ContainerState>> State(const std::string& id);
  absl::StatusOr<std::vector<ContainerState>> List();
  absl::Status Kill(const std::string& id, int signal, bool all);
  absl::Status Delete(const std::string& id, bool force);

  // The argv of `runsc exec` (for passthrough execution by the caller
  // through the same runner). This runsc's exec has no --tty: the caller's
  // own stdio (a terminal stays a terminal) is what the command gets.
  std::vector<std::string> ExecArgv(const std::string& id,
                                    const std::vector<std::string>& cmd) const;

  std::vector<std::string> GlobalArgs() const;

  // Whether a checkpoint into `image_dir` (not yet created) with
  // `compression` passes --direct: a large uncompressed image then goes
  // to disk once, at disk speed, instead of filling the page cache that
  // the seal's fsync must then write back. Only with direct_checkpoint:
  // the restore then has to read it all from disk, where a buffered
  // image is still in the cache.
  bool CheckpointUsesDirectIo(const std::string& image_dir, const std::string& compression) const;
  // Whether a restore from `image_dir` passes --direct: when the image is
  // uncompressed (it has a pages file) and its pages file is mostly not in
  // the page cache (it was written with --direct and hashed past the
  // cache), this runsc has `restore --direct` and the file system takes
  // O_DIRECT: the direct read then avoids filling the page cache on the
  // way in, while a cached image is read from the cache.
  bool RestoreUsesDirectIo(const std::string& image_dir) const;

 private:
  absl::StatusOr<CommandResult> Call(std::vector<std::string> args,
                                     std::chrono::milliseconds timeout);
  // The flags of one subcommand, from `runsc help <subcommand>`, each
  // qualified as "<subcommand>.<flag>".
  std::set<std::string> SubcommandFlags(const std::string& subcommand);
  // For the calls that boot a networked sandbox: masks /proc/sys/net
  // (runsc's broken root-netns check) once the netns is known not to be
  // the host's (the mask also switches that guard off).
  absl::Status PrepareBootCommand(Command* cmd) const;
  absl::Status Check(const std::string& what, const std::string& id,
                     absl::StatusOr<CommandResult> result);
  // Runs a command whose stdio belongs to the container (create, restore).
  absl::Status RunWithContainerStdio(const std::string& what, const std::string& id,
                                     std::vector<std::string> args, int stdin_fd,
                                     int stdout_fd, int stderr_fd,
                                     std::chrono::milliseconds timeout);

  CommandRunner* runner_;
  RunscOptions options_;
  RunscFeatures features_;
};

// Parses the JSON of `runsc state` (one object) or `runsc list
// --format=json` (array or null).
absl::StatusOr<ContainerState> ParseContainerState(const std::string& json);
absl::StatusOr<std::vector<ContainerState>> ParseContainerList(const std::string& json);
// Parses `runsc flags` output into flag names.
std::set<std::string> ParseRunscFlags(const std::string& text);

}  // namespace osgv
