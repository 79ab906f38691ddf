// SandboxManager: Stop, which is a `runsc checkpoint` of the sandbox's
// memory into a sealed image (docs/lifecycle.md, "Stop: checkpoint"), or,
// when that cannot be had, a stop without memory.
#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "lifecycle/checkpoint/checkpoint_image.h"
#include "lifecycle/fs_util.h"
#include "lifecycle/manager_support.h"
#include "lifecycle/random_hex.h"
#include "lifecycle/sandbox_manager.h"
#include "lifecycle/sandbox_status.h"
#include "lifecycle/step_clock.h"

namespace osgv {

using manager_support::Clock;
using manager_support::MsSince;

absl::Status SandboxManager::Stop(const std::string& id, const std::string& name,
                                  Deadline deadline) {
  if (auto st = AcceptingChanges(); !st.ok()) return st;
  auto found = LookupForOperation(id, name);
  if (!found.ok()) return found.status();
  EntryPtr e = *found;
  // Behind the sandbox's earlier operations; the phase is judged when it runs.
  auto stop = [this, e]() -> OperationResult::Value {
    const SandboxPhase p = Phase(e);
    if (p == phase::kStopped) return true;  // idempotent
    if (p == phase::kRunning) {
      if (auto st = CheckpointLocked(e); !st.ok()) return st;
      return true;
    }
    std::string what = p == phase::kProvisioning
                           ? "is still being created; stop it once it is ready"
                       : p == phase::kDeleting ? "is being deleted"
                                               : "has exited; there is nothing to stop (delete it)";
    return absl::FailedPreconditionError(
        absl::StrCat("sandbox '", e->id, "' ", what, " (phase ", PhaseName(p), ")"));
  };
  return RunOperation(e, kStopOp, "StopSandbox", stop, deadline).status();
}

absl::Status SandboxManager::StopWithoutMemory(const EntryPtr& e, const std::string& why) {
  e->host.Release();
  std::string message = absl::StrCat(why, "; the sandbox's memory was lost, its files are kept, "
                                          "and the next Start boots it cold");
  spdlog::warn("sandbox {}: {}", e->id, message);
  auto st = Transition(e, [&](SandboxRecord& r) {
    r.phase = phase::kStopped;
    r.reason = reason::kStoppedWithoutMemory;
    r.message = message;
    r.checkpoint_json.clear();
    r.monitor_pid = 0;
  });
  PublishEvent(e->id, "Warning", reason::kStoppedWithoutMemory, message);
  return st;
}

absl::Status SandboxManager::CheckpointLocked(const EntryPtr& e, const std::string& why) {
  const std::string& id = e->id;
  // Without it, a checkpoint with any TCP connection open fails and kills
  // the sandbox (runsc.md): refuse rather than gamble with it.
  if (!d_.runsc->features().Has("net-disconnect-ok")) {
    return absl::FailedPreconditionError(
        "StopSandbox needs runsc's --net-disconnect-ok, which this runsc lacks; install runsc "
        "from bookworm-backports (scripts/install-deps.sh)");
  }
  StepClock clock;
  const CheckpointPaths paths = e->host.checkpoint();
  const std::string& root = paths.root;
  if (auto st = MakeDirs(root, 0700); !st.ok()) return st;

  // A checkpoint that runs out of disk kills the sandbox (runsc.md §4):
  // refuse up front while it is still alive.
  uint64_t memory = e->host.MemoryBytes().value_or(0);
  uint64_t needed = memory + memory / 8 + (16ull << 20);
  auto free = FreeBytes(root);
  if (!free.ok()) return free.status();
  if (*free < needed) {
    return absl::FailedPreconditionError(absl::StrCat(
        "not enough space to checkpoint sandbox '", id, "' into ", root, ": needs about ",
        DescribeMiB(needed), ", ", DescribeMiB(*free), " free; the sandbox keeps running"));
  }

  clock.Lap("space check");
  auto st = Transition(
      e,
      [](SandboxRecord& r) {
        r.phase = phase::kStopping;
        r.message = "Checkpointing the sandbox's memory";
      },
      StateStore::Durability::kProcessCrash);
  if (!st.ok()) return st;
  clock.Lap("record stopping");
  std::string compression =
      ChooseCompression(d_.config.checkpoint.compression, d_.config.checkpoint.none_above_bytes, memory);
  auto suffix = RandomHex(6);
  if (!suffix.ok()) {
    auto rolled_back = Transition(e, [](SandboxRecord& r) {
      r.phase = phase::kRunning;
      r.message = "Sandbox is running (a checkpoint could not begin)";
    });
    return rolled_back.ok() ? suffix.status() : rolled_back;
  }
  std::string tmp = paths.staging(*suffix);
  auto t0 = Clock::now();
  st = e->host.Checkpoint(tmp, compression);
  int64_t duration = MsSince(t0);
  clock.Lap("runsc checkpoint");
  if (!st.ok()) {
    RemoveTree(tmp).IgnoreError();  // never leave a half-written image
    // Killed at shutdown: the sandbox may still be saving itself. The
    // record stays `stopping` for recovery, which waits and decides.
    if (absl::IsCancelled(st) && shutting_down_) return st;
    if (e->host.ProcessAlive()) {
      auto rolled_back = Transition(e, [](SandboxRecord& r) {
        r.phase = phase::kRunning;
        r.message = "Sandbox is running (a checkpoint failed)";
      });
      if (!rolled_back.ok()) return rolled_back;
      return absl::FailedPreconditionError(
          absl::StrCat("checkpoint of sandbox '", id, "' failed: ", st.message(),
                       "; the sandbox keeps running"));
    }
    return StopWithoutMemory(e, absl::StrCat("checkpoint failed: ", st.message()));
  }
  // The image is complete once runsc returns; the sandbox process is still
  // shutting down (tens of ms until its monitor reaps it). Stop does not
  // wait for that: the release below does (SandboxHost::WaitForMonitorEnd).

  CheckpointImage image;
  image.compression = compression;
  image.created_at_ms = UnixNowMs();
  image.duration_ms = duration;
  auto seal_start = Clock::now();
  auto sealed = SealCheckpoint(tmp, paths.image(), image);
  int64_t seal_ms = MsSince(seal_start);
  clock.Lap("seal");
  if (!sealed.ok()) {
    RemoveTree(tmp).IgnoreError();
    return StopWithoutMemory(e, absl::StrCat("checkpoint could not be made durable: ",
                                             sealed.status().message()));
  }
  std::string message = absl::StrCat(why, why.empty() ? "" : "; ", "Memory checkpointed: ",
                                     DescribeMiB(sealed->bytes), " in ", duration, " ms (", compression, ")");
  st = Transition(e, [&](SandboxRecord& r) {
    r.phase = phase::kStopped;
    r.reason = reason::kCheckpointed;
    r.message = message;
    r.checkpoint_json = CheckpointToJson(*sealed);
    r.monitor_pid = 0;
  });
  if (!st.ok()) return st;
  clock.Lap("record stopped");
  spdlog::debug("sandbox {}: stop took {}", id, clock.Summary());
  // The memory is durable and recorded: Stop is done. Waiting for the
  // reap, deleting the runsc container and unmounting the overlay are
  // cleanup, left to an operation queued behind this one; a Start or
  // Delete queued earlier runs first and does it itself
  // (FinishPendingRelease), and a crash before either is handled by
  // recovery (a stopped record's container is released there).
  e->release_pending = true;
  Enqueue(e->id, "release after stop", [this, e] {
    FinishPendingRelease(e);
    return absl::OkStatus();
  });
  spdlog::info("sandbox {}: {}", id, message);
  PublishEvent(id, "Normal", reason::kCheckpointed, message,
               {{"openshell.gvisor.checkpoint_bytes", std::to_string(sealed->bytes)},
                {"openshell.gvisor.checkpoint_ms", std::to_string(duration)},
                {"openshell.gvisor.seal_ms", std::to_string(seal_ms)},
                {"openshell.gvisor.compression", compression}});
  return absl::OkStatus();
}

}  // namespace osgv
