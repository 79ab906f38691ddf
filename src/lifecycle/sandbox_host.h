// The host side of one sandbox: everything the driver does to the machine
// on a sandbox's behalf, behind one object. Its image (verified and
// unpacked), bundle, overlay mount, network and policy fence, the monitor
// that runs runsc, its checkpoint files, and the release of all of it.
//
// SandboxManager decides (records, phases, events, queues); a SandboxHost
// carries out, and neither reads nor writes a record. Each sandbox's
// Entry owns one, bound to its immutable identity and plan; the start-up
// sweep makes one for leftovers without a record (Orphan). Underneath are
// the narrow seams of ManagerDeps (Runsc, ImageStore, RootfsMounter,
// SandboxNetwork, MonitorLauncher), which the manager's tests fake.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "capabilities/config.h"
#include "lifecycle/checkpoint/checkpoint_image.h"
#include "lifecycle/image/image_store.h"
#include "lifecycle/monitor/monitor.h"
#include "lifecycle/network/host_resolver.h"
#include "lifecycle/network/sandbox_network.h"
#include "lifecycle/rootfs/rootfs_mounter.h"
#include "lifecycle/runsc/runsc.h"
#include "lifecycle/sandbox_plan.h"
#include "lifecycle/state_layout.h"
#include "openshell_gvisor/sandbox.h"

namespace osgv {

// What every SandboxHost of one manager works through; owned by the
// manager, which outlives its hosts.
struct HostSeams {
  const Config* config = nullptr;
  const StateLayout* layout = nullptr;
  Runsc* runsc = nullptr;
  ImageStore* images = nullptr;
  RootfsMounter* mounter = nullptr;
  MonitorLauncher* monitors = nullptr;
  SandboxNetwork* network = nullptr;    // nullptr: network.mode none
  HostResolver* resolver = nullptr;     // nullptr: the system resolver
  std::string cgroup_root;
};

class SandboxHost {
 public:
  // Told of what the host noticed and the operator should see (a policy
  // host that does not resolve): an event's reason and message.
  using Notice = std::function<void(const std::string& reason, const std::string& message)>;

  // `plan` must outlive the host (the Entry holds both).
  SandboxHost(const HostSeams* seams, std::string id, std::string name, std::string runsc_id,
              const SandboxPlan* plan);
  // What is left of a sandbox without a record: its plan is unknown, so
  // only what inspects or releases works (not PrepareImage, WriteBundle or
  // ConnectNetwork, which would act on an empty plan).
  static SandboxHost Orphan(const HostSeams* seams, std::string runsc_id);

  const std::string& runsc_id() const { return runsc_id_; }
  SandboxPaths paths() const;
  // Under checkpoint_dir, or <state>/checkpoints (state_layout.h).
  CheckpointPaths checkpoint() const;

  // ---- building it up (Create, Start) ------------------------------------
  // The plan's image, verified and unpacked; `pinned_digest` (Start): the
  // manifest the sandbox ran on before. Errors name the image.
  absl::StatusOr<PreparedImage> PrepareImage(
      const std::string& pinned_digest,
      const std::function<void(const ImageProgress&)>& progress) const;
  bool HasBundle() const;
  // The bundle, from the plan (bundle_writer.h); `net` exactly when the
  // plan is networked.
  absl::Status WriteBundle(const SandboxRequest& request, const PreparedImage& image,
                           const NetworkAttachment* net) const;
  // The overlay on the bundle's rootfs, unless it is mounted already.
  absl::Status MountRootfs(const PreparedImage& image) const;
  // The network, ready for runsc to boot the sandbox: a fresh Setup at
  // create (or for an imported sandbox), PrepareRestore before every later
  // boot (runsc stripped eth0 the previous time); then, for a v0.1.x/Ryno
  // sandbox, its policy fence, with the policy's names looked up anew.
  // nullopt when the plan is not networked.
  absl::StatusOr<std::optional<NetworkAttachment>> ConnectNetwork(const SandboxRequest& request,
                                                                  const Notice& notice) const;
  // Starts the monitor that runs runsc: create+start, or restore from
  // `restore_dir` when it is set; `net` is the attachment runsc joins.
  absl::StatusOr<MonitorHandle> LaunchMonitor(const NetworkAttachment* net,
                                              const std::string& restore_dir) const;

  // ---- while it runs, and Stop -------------------------------------------
  // runsc checkpoint into `dir` (which it creates).
  absl::Status Checkpoint(const std::string& dir, const std::string& compression) const;
  // Whether the sandbox process still runs, waiting up to 2 s for runsc to
  // notice a process that has just ended.
  bool ProcessAlive() const;
  // Its memory cgroup's usage, when readable.
  std::optional<uint64_t> MemoryBytes() const;
  // The live monitor per its monitor.pid file, or 0.
  int MonitorPid() const;
  // The exit code its monitor recorded, if it recorded one.
  std::optional<int> RecordedExitCode() const;
  // The end of its console log, "" when it printed nothing.
  std::string LastOutput() const;
  // How many times the memory-cgroup OOM killer struck it.
  int OomKills() const;

  // ---- recovery: what a crash of the driver interrupted ------------------
  // Until an interrupted launch has brought the container up (true, with
  // its pid) or its monitor has ended (false); bounded by 3× runsc's timeout.
  bool WaitForInterruptedLaunch(int* sandbox_pid) const;
  // true once the sandbox process is gone (its save finished, one way or
  // the other); false if it still runs and nothing has been written for 3 s.
  bool WaitForInterruptedCheckpoint(int sandbox_pid) const;
  // The staging images (`tmp-*`) saves left unsealed in its checkpoint
  // directory, in directory order.
  std::vector<std::string> StagingImages() const;
  // Seals the staging image an interrupted save left behind.
  absl::StatusOr<CheckpointImage> SealInterruptedCheckpoint() const;

  // ---- tearing it down ---------------------------------------------------
  // Until its monitor (if one still runs) has reaped the sandbox and ended,
  // so it can no longer write an exit record; at most 10 s.
  void WaitForMonitorEnd() const;
  // Removes the runsc container and unmounts the rootfs; keeps the files.
  void Release() const;
  // Gives its address back (a leftover is retried by the next sweep).
  void DisconnectNetwork() const;
  // Delete's: token, network, mounts, checkpoints and the sandbox dir.
  absl::Status RemoveFiles() const;

 private:
  absl::Status ApplyPolicyFence(const SandboxRequest& request, const Notice& notice) const;

  const HostSeams* seams_;
  std::string id_;
  std::string name_;
  std::string runsc_id_;
  const SandboxPlan* plan_;
};

}  // namespace osgv
