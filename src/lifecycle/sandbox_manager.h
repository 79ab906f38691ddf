// The sandbox state machine: create, observe, delete, recover.
//
// sandbox_manager.cc holds the registry and the transitions; each operation
// that does more is in a file named after it: sandbox_provision.cc,
// sandbox_stop.cc, sandbox_start.cc, sandbox_exit.cc,
// sandbox_idle_suspend.cc, sandbox_recovery.cc and sandbox_manager_sweep.cc;
// how operations are queued, waited for and shut down is
// sandbox_operations.cc. What any of them does to the machine for one
// sandbox (image, bundle, mount, network, monitor, checkpoint files,
// release) goes through that sandbox's SandboxHost (sandbox_host.h).
//
// Slow work (image unpack, runsc) never runs under the manager's lock, so
// Get/List/Watch always answer from memory at once. Each sandbox has its own
// serial queue of operations (provisioning, Stop, Start, exit handling,
// deletion), run on a bounded pool of workers (OperationQueue); a caller
// waits for its operation at most until its deadline. Every state change is
// written to the store before it is published to watchers or reported to a
// caller; a write that fails is latched as the background error.
#pragma once

#include <atomic>
#include <chrono>
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
#include "lifecycle/network/host_resolver.h"
#include "lifecycle/network/sandbox_network.h"
#include "lifecycle/operation_queue.h"
#include "lifecycle/operation_result.h"
#include "lifecycle/recovery_plan.h"
#include "lifecycle/rootfs/rootfs_mounter.h"
#include "lifecycle/runsc/runsc.h"
#include "lifecycle/runsc/runsc_id.h"
#include "lifecycle/sandbox_host.h"
#include "lifecycle/sandbox_plan.h"
#include "lifecycle/state_layout.h"
#include "lifecycle/step_clock.h"
#include "lifecycle/store/state_store.h"
#include "lifecycle/ticker.h"
#include "openshell_gvisor/sandbox.h"

namespace osgv {

// The OS-facing pieces the manager drives; tests pass fakes.
// How long Shutdown takes at most (docs/lifecycle.md, "Shutdown").
inline constexpr std::chrono::milliseconds kShutdownBound{10000};
// How many operations (of different sandboxes) run at once; more wait for
// a worker. A pull or a checkpoint holds one for its whole length.
inline constexpr size_t kOperationWorkers = 16;

struct ManagerDeps {
  Config config;
  StateLayout layout;
  RecordStore* store = nullptr;
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
  // Looks up the host names of v0.1.x/Ryno policy fences; nullptr = the
  // system resolver (SystemHostResolver).
  HostResolver* resolver = nullptr;
  // The runner behind runsc, skopeo and the network: Shutdown abandons it
  // (kills its children) when operations outlast most of the bound.
  // nullptr = nothing to abandon.
  CommandRunner* tools = nullptr;
  size_t operation_workers = kOperationWorkers;
  // The idle suspend loop's time; nullptr = the steady clock.
  Ticker* idle_ticker = nullptr;
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
  // Persists the record and returns; provisioning continues in its queue.
  absl::Status Create(const SandboxRequest& request, Deadline deadline = kNoDeadline);
  // A sandbox by id, or by a name only one sandbox has (FAILED_PRECONDITION
  // naming sandbox_name when sandboxes in several workspaces share it).
  absl::StatusOr<SandboxSnapshot> Get(const std::string& id, const std::string& name) const;
  std::vector<SandboxSnapshot> List() const;
  // Stop, Start and Delete queue their operation behind the sandbox's
  // earlier ones and wait for it until `deadline`. When it passes first
  // they answer DEADLINE_EXCEEDED and the operation runs on to its end,
  // which GetSandbox and Watch show; a retry of the same operation while
  // it is still the last one queued joins it, a later one follows it.
  // Delete: true = it existed and is gone now; false = nothing was there.
  absl::StatusOr<bool> Delete(const std::string& id, const std::string& name,
                              Deadline deadline = kNoDeadline);
  absl::Status Stop(const std::string& id, const std::string& name,
                    Deadline deadline = kNoDeadline);
  absl::Status Start(const std::string& id, const std::string& name,
                     Deadline deadline = kNoDeadline);
  // Subscribes first, then lists, so nothing is missed between the two.
  WatchStart Watch();

  // For `exec`: the runsc container id of a running sandbox.
  absl::StatusOr<SandboxRecord> Find(const std::string& id_or_name) const;

  // With checkpoint.idle_suspend_after set, checkpoints sandboxes whose
  // processes have used (almost) no CPU for that long. Call after Recover.
  void StartIdleSuspend();

  // Takes no more operations, drops the queued ones, cancels provisioning
  // (it stops after its current step) and waits for the running ones. At
  // 4/5 of `bound` it abandons deps.tools (kills the commands still
  // running); at `bound` it answers whoever still waits with UNAVAILABLE and
  // returns. true: nothing runs any more. false: an operation is stuck
  // outside any command; destroying the manager then waits for it, so the
  // caller should exit the process instead (recovery finishes it at the
  // next start). Sandboxes keep running either way.
  bool Shutdown(std::chrono::milliseconds bound = kShutdownBound);

  // The first failed commit of a state change (LevelDB's bg_error): once
  // set, the records may lag behind the host, so Create, Stop, Start and
  // Delete answer UNAVAILABLE with it until the driver is restarted (its
  // recovery reconciles the records with the host). OK while none failed.
  absl::Status BackgroundError() const;
  // Called once, from whichever thread latches the background error
  // (serve turns the health service NOT_SERVING). Set it before Recover.
  void OnBackgroundError(std::function<void(const absl::Status&)> listener);

 private:
  struct Entry {
    Entry(const HostSeams* seams, const SandboxRecord& r, SandboxPlan p,
          absl::Status p_status = absl::OkStatus())
        : id(r.id), name(r.name), runsc_id(r.runsc_id), plan(std::move(p)),
          plan_status(std::move(p_status)), host(seams, id, name, runsc_id, &plan), record(r) {}
    // The record's identity, which never changes: read without any lock.
    const std::string id;
    const std::string name;
    const std::string runsc_id;
    // What the sandbox is, decided at create (sandbox_plan.h): as fixed as
    // its identity. Not OK only for a record from before plans whose
    // request no longer validates: `plan` then holds what its bundle and
    // record say, and no bundle is written from it.
    const SandboxPlan plan;
    const absl::Status plan_status;
    // Everything done to the machine for this sandbox goes through it.
    const SandboxHost host;
    SandboxRecord record;             // read under mu_ (Record()); written under record_mu + mu_
    std::mutex record_mu;             // one writer of `record` at a time (Transition)
    bool removed = false;             // its record is deleted from the store; record_mu
    std::atomic<bool> cancel{false};  // set by Delete (and Shutdown) to stop provisioning
    // The last Stop, Start or Delete queued for this sandbox, until it ends:
    // a retry of the same kind joins it. Guarded by ops_mu_.
    std::shared_ptr<OperationResult> last_op;
    int last_op_kind = 0;
    // Set, from the manager's launch_counter_, whenever a new monitor (or
    // adopted process) is watched, so a late exit report of an earlier
    // incarnation is recognised and ignored: also one of a deleted sandbox
    // whose id was created again, since the counter is not per entry.
    std::atomic<uint64_t> launch_seq{0};
    // A Stop returned before its runsc container was deleted and its
    // overlay unmounted; the sandbox's next operation finishes that first.
    bool release_pending = false;  // only touched by the sandbox's operations
  };
  using EntryPtr = std::shared_ptr<Entry>;

  // A stored record's entry, with its plan: decoded, or for a record from
  // before plans derived once as the driver used to (from its request, the
  // configuration and its bundle) and stored with it.
  EntryPtr LoadEntry(const SandboxRecord& stored);
  // By id, or by a name that only one sandbox has (record_lookup.h).
  absl::StatusOr<EntryPtr> LookupForOperation(const std::string& id, const std::string& name) const;
  SandboxPhase Phase(const EntryPtr& e) const;
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
  absl::Status Fail(const EntryPtr& e, const std::string& reason, const std::string& message);
  // Delete's work, in the sandbox's queue: runtime, files, record.
  absl::StatusOr<bool> DeleteQueued(const EntryPtr& e);

  // Operations (sandbox_operations.cc). Queues `task` behind the sandbox's
  // earlier operations, under the caller's trace id; false once shut down.
  // Its error, which nobody waits for, is logged as "<id>: <what>: ...".
  bool Enqueue(const std::string& id, const char* what, std::function<absl::Status()> task);
  // Only when the sandbox has no operation queued or running.
  bool EnqueueIfIdle(const std::string& id, const char* what,
                     std::function<absl::Status()> task);
  // Queues (or joins: see Stop) the caller's operation `kind` and waits
  // for it until `deadline`. `rpc` names it in a DEADLINE_EXCEEDED.
  enum OpKind { kStopOp = 1, kStartOp, kDeleteOp };
  OperationResult::Value RunOperation(const EntryPtr& e, OpKind kind, const char* rpc,
                                      std::function<OperationResult::Value()> body,
                                      Deadline deadline);
  // UNAVAILABLE while shutting down or after a background error; OK else.
  absl::Status AcceptingChanges() const;
  // Latches `error` (the first one only) and tells the listener.
  void LatchBackgroundError(const absl::Status& error);

  // Create's background work (sandbox_provision.cc).
  absl::Status Provision(const EntryPtr& e, const SandboxRequest& request);
  absl::Status ProvisionSteps(const EntryPtr& e, const SandboxRequest& request,
                              std::string* failure_reason);
  // The plan's image, verified and unpacked (SandboxHost::PrepareImage),
  // with progress events. `pinned_digest` (Start): the manifest the
  // sandbox ran on before.
  absl::StatusOr<PreparedImage> PrepareImage(const EntryPtr& e,
                                             const std::string& pinned_digest = "");
  // SandboxHost::WriteBundle, refused for a plan that did not validate.
  absl::Status WriteBundle(const EntryPtr& e, const SandboxRequest& request,
                           const PreparedImage& image, const NetworkAttachment* net);
  // Starts the monitor (create+start, or restore when `restore_dir` is set)
  // and records the sandbox as running; `net` (when networked) is the
  // attachment runsc joins. `clock`, when given, gets its steps.
  // `image_digest` (when not empty): the manifest a freshly written bundle
  // was built from, recorded with the running transition. `confirm` (when
  // set) must say OK after the monitor came up and before anything is
  // recorded; otherwise Launch fails with its status, the sandbox still
  // there for the caller to release (a restore whose image failed its
  // verification, sandbox_start.cc).
  absl::StatusOr<MonitorHandle> Launch(const EntryPtr& e, const NetworkAttachment* net,
                                       const std::string& restore_dir,
                                       const std::string& running_message,
                                       StepClock* clock = nullptr,
                                       const std::string& image_digest = "",
                                       const std::function<absl::Status()>& confirm = nullptr);
  // The end of a run (sandbox_exit.cc).
  absl::Status OnMonitorExit(const std::string& id, uint64_t seq);
  // "; last output: ..." from the sandbox's console log, when it has any.
  static void AppendLastOutput(const EntryPtr& e, std::string* message);
  void WatchExit(const EntryPtr& e, int pid);
  // In the sandbox's queue: the release a Stop left for later, now.
  void FinishPendingRelease(const EntryPtr& e);

  // SandboxHost::ConnectNetwork, its notices published as Warning events.
  absl::StatusOr<std::optional<NetworkAttachment>> ConnectNetwork(const EntryPtr& e,
                                                                  const SandboxRequest& request);
  // Create's PolicyNotEnforced warnings: the gateway's policy parts the
  // driver layer dropped and what this host's network cannot reach.
  void PublishPolicyLimitations(const EntryPtr& e, const SandboxRequest& request);

  // Stop and Start, run in the sandbox's operation queue ("Locked": no
  // other operation of the sandbox runs meanwhile) (sandbox_stop.cc,
  // sandbox_start.cc, sandbox_idle_suspend.cc).
  absl::Status CheckpointLocked(const EntryPtr& e, const std::string& why = "");
  // Asks an IdleSuspender (idle_suspender.h) once per tick until Shutdown.
  void IdleSuspendLoop();
  absl::Status SuspendIfIdle(const EntryPtr& e);
  absl::Status StartLocked(const EntryPtr& e);
  // A Start that failed goes back to stopped: `cause`, or the failed commit.
  absl::Status RollBackToStopped(const EntryPtr& e, absl::Status cause);
  absl::Status StopWithoutMemory(const EntryPtr& e, const std::string& why);
  // After a restore: removes the image it came from, unless a later Stop
  // has already replaced it. Run in the sandbox's queue.
  absl::Status RemoveStaleCheckpoint(const EntryPtr& e, const std::string& dir);

  // Recover's steps (sandbox_recovery.cc): observe the host, let
  // PlanRecovery (recovery_plan.h) decide, carry its action out.
  struct RecoveryObservation {
    ObservedHost host;    // what PlanRecovery decides on
    int sandbox_pid = 0;  // the container's pid as runsc lists it
    std::optional<CheckpointImage> sealed_image;  // when checkpoint_sealed
  };
  // Runs in the sandbox's queue; sets `reprovision` when the sandbox is to
  // be provisioned again (after the orphan sweep).
  absl::Status RecoverRecord(const EntryPtr& e,
                             const std::map<std::string, ContainerState>& containers,
                             std::optional<SandboxRequest>* reprovision);
  RecoveryObservation ObserveForRecovery(const EntryPtr& e, const SandboxRecord& r,
                                         const std::map<std::string, ContainerState>& containers);
  // Makes the observation `ask` names, if it names one (false otherwise).
  bool ObserveMore(const EntryPtr& e, const SandboxRecord& r, RecoveryAction ask,
                   RecoveryObservation* seen);
  // Each returns the failed commit, if any (Transition has latched it).
  absl::Status CarryOutRecovery(const EntryPtr& e, const SandboxRecord& r, RecoveryAction action,
                                const RecoveryObservation& seen,
                                std::optional<SandboxRequest>* reprovision);
  absl::Status ReprovisionRecovered(const EntryPtr& e, const SandboxRecord& r,
                                    std::optional<SandboxRequest>* reprovision);
  absl::Status CarryOutStarting(const EntryPtr& e, const SandboxRecord& r, RecoveryAction action,
                                const RecoveryObservation& seen);
  absl::Status CarryOutRunning(const EntryPtr& e, const SandboxRecord& r, RecoveryAction action,
                               const RecoveryObservation& seen);
  // A Stop the crash interrupted turned out complete: record it as stopped.
  absl::Status FinishRecoveredStop(const EntryPtr& e, const CheckpointImage& image);
  absl::Status Adopt(const EntryPtr& e, int sandbox_pid);
  // The start-up sweep (sandbox_manager_sweep.cc): runsc containers,
  // sandbox dirs, checkpoint dirs and networks without a record, as far as
  // their names say the driver made them.
  void RemoveOrphans(const std::map<std::string, ContainerState>& containers);
  void RemoveOrphanNetworks();
  std::set<std::string> KnownRunscIds() const;

  ManagerDeps d_;
  // d_'s per-sandbox seams, which every Entry's SandboxHost works through.
  const HostSeams seams_;
  // Guards entries_ and every Entry::record (writers also hold the entry's
  // record_mu, taken first); Entry's identity fields need no lock. Never held across a store commit but Create's
  // insert, which must stay atomic with its uniqueness check.
  mutable std::mutex mu_;
  std::map<std::string, EntryPtr> entries_;

  // Every OperationResult a caller may still wait for, so that Shutdown
  // can answer them all; and each Entry's last_op. Taken after mu_.
  std::mutex ops_mu_;
  std::vector<std::weak_ptr<OperationResult>> waited_;
  mutable std::mutex bg_mu_;
  absl::Status bg_error_;  // guarded by bg_mu_
  std::function<void(const absl::Status&)> bg_listener_;  // guarded by bg_mu_

  std::mutex shutdown_mu_;
  // Creates whose record is being stored (outside mu_), by id: their id
  // and name are taken, but they are not listed yet. Guarded by mu_.
  std::map<std::string, SandboxRecord> creating_;
  std::condition_variable shutdown_cv_;  // a second Shutdown waits for the first's answer
  SteadyTicker steady_ticker_;  // unless ManagerDeps has one
  Ticker* idle_ticker_;         // stopped by Shutdown
  std::atomic<bool> shutting_down_{false};
  std::atomic<uint64_t> launch_counter_{0};  // source of every Entry::launch_seq
  std::optional<bool> shut_down_;  // Shutdown's answer, once it gave one; shutdown_mu_
  std::thread idle_thread_;        // IdleSuspendLoop, when enabled
  // Declared last: destroyed first, so no operation outlives what it uses.
  OperationQueue queue_;
};

}  // namespace osgv
