// The sandbox state machine: create, observe, delete, recover.
//
// sandbox_manager.cc holds the registry and the transitions; each operation
// that does more is in a file named after it: sandbox_provision.cc,
// sandbox_stop.cc, sandbox_start.cc, sandbox_exit.cc,
// sandbox_idle_suspend.cc, sandbox_recovery.cc, sandbox_manager_sweep.cc
// and sandbox_manager_network.cc.
//
// Slow work (image unpack, runsc) never runs under the manager's lock, so
// Get/List/Watch always answer from memory at once. Each sandbox has its own
// operation lock that serializes provisioning, exit handling and deletion
// of that sandbox only. Every state change is written to the store before it
// is published to watchers or reported to a caller.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "capabilities/config.h"
#include "capabilities/validation.h"
#include "lifecycle/checkpoint/checkpoint_image.h"
#include "lifecycle/events/event_bus.h"
#include "lifecycle/image/image_store.h"
#include "lifecycle/monitor/exit_watcher.h"
#include "lifecycle/monitor/monitor.h"
#include "lifecycle/network/sandbox_network.h"
#include "lifecycle/recovery_plan.h"
#include "lifecycle/rootfs/rootfs_mounter.h"
#include "lifecycle/runsc/runsc.h"
#include "lifecycle/runsc/runsc_id.h"
#include "lifecycle/state_layout.h"
#include "lifecycle/step_clock.h"
#include "lifecycle/store/state_store.h"
#include "openshell_gvisor/sandbox.h"

namespace osgv {

// The OS-facing pieces the manager drives; tests pass fakes.
struct ManagerDeps {
  Config config;
  StateLayout layout;
  StateStore* store = nullptr;
  Runsc* runsc = nullptr;
  ImageStore* images = nullptr;
  RootfsMounter* mounter = nullptr;
  MonitorLauncher* monitors = nullptr;
  ExitWatcher* exits = nullptr;
  EventBus* events = nullptr;
  // network.mode sandbox: the host side of each sandbox's network
  // (docs/network.md), its EnsureHost() already done by whoever built it
  // (OpenDriverRuntime, before the socket answers). nullptr = none.
  SandboxNetwork* network = nullptr;
  std::string cgroup_root = "/sys/fs/cgroup";  // tests point it elsewhere
};

// What a new WatchSandboxes stream starts with.
struct WatchStart {
  std::shared_ptr<Subscription> subscription;
  std::vector<SandboxSnapshot> snapshots;
};

class SandboxManager {
 public:
  explicit SandboxManager(ManagerDeps deps);
  ~SandboxManager();

  // Startup reconciliation against runsc and the disk; see docs/lifecycle.md.
  absl::Status Recover();

  absl::Status Validate(const SandboxRequest& request) const;
  // Persists the record and returns; provisioning continues in background.
  absl::Status Create(const SandboxRequest& request);
  absl::StatusOr<SandboxSnapshot> Get(const std::string& id, const std::string& name) const;
  std::vector<SandboxSnapshot> List() const;
  // true: it existed and is gone now; false: nothing was there.
  absl::StatusOr<bool> Delete(const std::string& id, const std::string& name);
  absl::Status Stop(const std::string& id, const std::string& name);
  absl::Status Start(const std::string& id, const std::string& name);
  // Subscribes first, then lists, so nothing is missed between the two.
  WatchStart Watch();

  // For `exec`: the runsc container id of a running sandbox.
  absl::StatusOr<SandboxRecord> Find(const std::string& id_or_name) const;

  // With checkpoint.idle_suspend_after set, checkpoints sandboxes whose
  // processes have used (almost) no CPU for that long. Call after Recover.
  void StartIdleSuspend();

  // Waits for background provisioning to finish its current step and stops
  // it; sandboxes keep running.
  void Shutdown();

 private:
  struct Entry {
    explicit Entry(const SandboxRecord& r)
        : id(r.id), name(r.name), runsc_id(r.runsc_id), record(r) {}
    // The record's identity, which never changes: read without any lock.
    const std::string id;
    const std::string name;
    const std::string runsc_id;
    SandboxRecord record;             // read under mu_ (Record()); written under record_mu + mu_
    std::mutex record_mu;             // one writer of `record` at a time (Transition)
    std::mutex op_mu;                 // one slow operation at a time
    std::atomic<bool> cancel{false};  // set by Delete to stop provisioning
    // Bumped whenever a new monitor (or adopted process) is watched, so a
    // late exit report of an earlier incarnation is recognised and ignored.
    std::atomic<uint64_t> launch_seq{0};
    // A Stop returned before its runsc container was deleted and its
    // overlay unmounted; whoever next holds op_mu finishes that first.
    bool release_pending = false;  // guarded by op_mu
  };
  using EntryPtr = std::shared_ptr<Entry>;

  EntryPtr Lookup(const std::string& id, const std::string& name) const;
  absl::StatusOr<EntryPtr> LookupForOperation(const std::string& id, const std::string& name) const;
  std::string Phase(const EntryPtr& e) const;
  // A copy of the sandbox's record, taken under mu_: how code outside the
  // lock reads anything but the identity fields.
  SandboxRecord Record(const EntryPtr& e) const;
  // Applies `mutate` to the record, persists it, then publishes a snapshot.
  // Intents (stopping, starting) pass kProcessCrash: see StateStore::Update.
  absl::Status Transition(const EntryPtr& e, const std::function<void(SandboxRecord&)>& mutate,
                          StateStore::Durability durability = StateStore::Durability::kPowerLoss);
  void PublishEvent(const std::string& sandbox_id, const std::string& type,
                    const std::string& reason, const std::string& message,
                    std::map<std::string, std::string> metadata = {});
  void Fail(const EntryPtr& e, const std::string& reason, const std::string& message);
  // Delete's: the sandbox's token, network, mounts, checkpoints and files.
  absl::Status RemoveSandboxFiles(const std::string& runsc_id);
  // Runs `task` on its own thread; Shutdown() waits for all of them.
  void RunInBackground(std::function<void()> task);

  // Create's background work (sandbox_provision.cc).
  void Provision(const EntryPtr& e, SandboxRequest request);
  absl::Status ProvisionSteps(const EntryPtr& e, const SandboxRequest& request,
                              std::string* failure_reason);
  // The request's image, verified and unpacked, with progress events.
  // `pinned_digest` (Start): the manifest the sandbox ran on before.
  absl::StatusOr<PreparedImage> PrepareImage(const SandboxRequest& request,
                                             const std::string& pinned_digest = "");
  // Bundle written (when asked) and overlay mounted: everything but runsc.
  // `net` (when networked) puts the netns and the generated /etc/hosts and
  // /etc/resolv.conf into the bundle.
  absl::Status PrepareRootfs(const EntryPtr& e, const SandboxRequest& request,
                             const PreparedImage& image, bool write_bundle,
                             const NetworkAttachment* net = nullptr);
  // Starts the monitor (create+start, or restore when `restore_dir` is set)
  // and records the sandbox as running. `clock`, when given, gets its steps.
  // `image_digest` (when not empty): the manifest a freshly written bundle
  // was built from, recorded with the running transition. `confirm` (when
  // set) must say OK after the monitor came up and before anything is
  // recorded; otherwise Launch fails with its status, the sandbox still
  // there for the caller to release (a restore whose image failed its
  // verification, sandbox_start.cc).
  absl::StatusOr<MonitorHandle> Launch(const EntryPtr& e, const std::string& restore_dir,
                                       const std::string& running_message,
                                       StepClock* clock = nullptr,
                                       const std::string& image_digest = "",
                                       const std::function<absl::Status()>& confirm = nullptr);
  // The end of a run (sandbox_exit.cc).
  void OnMonitorExit(const std::string& id, uint64_t seq);
  uint64_t MemoryLimitOf(const EntryPtr& e) const;
  // "; last output: ..." from the sandbox's console log, when it has any.
  void AppendLastOutput(const std::string& runsc_id, std::string* message) const;
  void WatchExit(const EntryPtr& e, int pid);
  // Removes the runsc container and unmounts the rootfs; keeps the files.
  void ReleaseRuntime(const std::string& runsc_id);
  // With op_mu held: the release a Stop left to the background, now.
  void FinishPendingRelease(const EntryPtr& e);
  // Until the sandbox's monitor (if one still runs) has reaped the sandbox
  // and ended, so it can no longer write an exit record (bounded).
  void WaitForMonitorEnd(const std::string& runsc_id);
  // The live monitor of this sandbox per its monitor.pid file, or 0.
  int MonitorPidOf(const std::string& runsc_id) const;

  // When the sandbox's network is set up and torn down
  // (sandbox_manager_network.cc).
  // The sandbox's network, ready for runsc to boot it: a fresh Setup at
  // create (or for an imported sandbox), PrepareRestore before every later
  // boot of the same id (runsc stripped eth0 the previous time). nullopt
  // when the sandbox is not networked.
  absl::StatusOr<std::optional<NetworkAttachment>> ConnectNetwork(const EntryPtr& e,
                                                                  bool networked);
  // The netns the sandbox's bundle names ("" = not networked): how it was
  // created, whatever the configuration says today.
  std::string BundleNetnsPath(const std::string& runsc_id) const;
  // Whether a new bundle for this request gets a netns: the driver's
  // network.mode and the request's driver_config.network_mode.
  bool WantsNetwork(const SandboxRequest& request) const;
  void DisconnectNetwork(const std::string& runsc_id);

  // Stop and Start, with the sandbox's operation lock held
  // (sandbox_stop.cc, sandbox_start.cc, sandbox_idle_suspend.cc).
  absl::Status CheckpointLocked(const EntryPtr& e, const std::string& why = "");
  // Asks an IdleSuspender (idle_suspender.h) once per tick until Shutdown.
  void IdleSuspendLoop();
  void SuspendIfIdle(const EntryPtr& e);
  absl::Status StartLocked(const EntryPtr& e);
  absl::Status StopWithoutMemory(const EntryPtr& e, const std::string& why);
  // After a restore: removes the image it came from, unless a later Stop
  // has already replaced it. Takes op_mu.
  void RemoveStaleCheckpoint(const EntryPtr& e, const std::string& dir);
  bool SandboxProcessAlive(const std::string& runsc_id);
  // checkpoint_dir, or <state>/checkpoints: one directory per sandbox in it.
  std::string CheckpointBase() const;
  std::string CheckpointRoot(const std::string& runsc_id) const;

  // Recover's steps (sandbox_recovery.cc): observe the host, let
  // PlanRecovery (recovery_plan.h) decide, carry its action out.
  struct RecoveryObservation {
    ObservedHost host;    // what PlanRecovery decides on
    int sandbox_pid = 0;  // the container's pid as runsc lists it
    std::optional<CheckpointImage> sealed_image;  // when checkpoint_sealed
  };
  void RecoverRecord(const EntryPtr& e, const std::map<std::string, ContainerState>& containers,
                     std::vector<SandboxRequest>* reprovision);
  RecoveryObservation ObserveForRecovery(const SandboxRecord& r,
                                         const std::map<std::string, ContainerState>& containers);
  // Makes the observation `ask` names, if it names one (false otherwise).
  bool ObserveMore(const SandboxRecord& r, RecoveryAction ask, RecoveryObservation* seen);
  std::optional<int> RecordedExitCode(const std::string& runsc_id) const;
  void CarryOutRecovery(const EntryPtr& e, const SandboxRecord& r, RecoveryAction action,
                        const RecoveryObservation& seen, std::vector<SandboxRequest>* reprovision);
  void ReprovisionRecovered(const EntryPtr& e, const SandboxRecord& r,
                            std::vector<SandboxRequest>* reprovision);
  void CarryOutStarting(const EntryPtr& e, const SandboxRecord& r, RecoveryAction action,
                        const RecoveryObservation& seen);
  void CarryOutRunning(const EntryPtr& e, const SandboxRecord& r, RecoveryAction action,
                       const RecoveryObservation& seen);
  // A Stop the crash interrupted turned out complete: record it as stopped.
  void FinishRecoveredStop(const EntryPtr& e, const CheckpointImage& image);
  void Adopt(const EntryPtr& e, int sandbox_pid);
  // Until a launch a crash interrupted has brought the container up (true,
  // with its pid) or its monitor has ended (false); bounded.
  bool WaitForInterruptedLaunch(const std::string& runsc_id, int* sandbox_pid);
  // true once the sandbox process is gone (its save finished, one way or
  // the other); false if it still runs and nothing is being written.
  bool WaitForInterruptedCheckpoint(const std::string& root, int sandbox_pid);
  // Seals the `tmp-*` image an interrupted save left in `root`.
  absl::StatusOr<CheckpointImage> SealInterruptedCheckpoint(const std::string& root);
  // The start-up sweep (sandbox_manager_sweep.cc): runsc containers,
  // sandbox dirs, checkpoint dirs and networks without a record, as far as
  // their names say the driver made them.
  void RemoveOrphans(const std::map<std::string, ContainerState>& containers);
  void RemoveOrphanNetworks();
  std::set<std::string> KnownRunscIds() const;

  ManagerDeps d_;
  // Guards entries_ and every Entry::record (writers also hold the entry's
  // record_mu, taken first); Entry's identity fields need no lock. Never held across a store commit but Create's
  // insert, which must stay atomic with its uniqueness check.
  mutable std::mutex mu_;
  std::map<std::string, EntryPtr> entries_;
  // Creates whose record is being stored (outside mu_), by id: their id
  // and name are taken, but they are not listed yet. Guarded by mu_.
  std::map<std::string, SandboxRecord> creating_;
  std::mutex tasks_mu_;
  std::condition_variable tasks_cv_;
  int active_tasks_ = 0;
  std::condition_variable shutdown_cv_;  // wakes the idle loop at shutdown
  std::atomic<bool> shutting_down_{false};
};

}  // namespace osgv
