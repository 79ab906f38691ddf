// SandboxManager: Start, which restores a stopped sandbox from its
// checkpoint with `runsc restore`, or boots it cold when there is no usable
// image or the restore fails (docs/lifecycle.md, "Start: restore").
#include <spdlog/spdlog.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "capabilities/generation_validation.h"
#include "lifecycle/checkpoint/checkpoint_image.h"
#include "lifecycle/checkpoint/cold_start.h"
#include "lifecycle/fs_util.h"
#include "lifecycle/manager_support.h"
#include "lifecycle/sandbox_manager.h"
#include "lifecycle/sandbox_status.h"
#include "lifecycle/spec_codec.h"
#include "lifecycle/step_clock.h"

namespace osgv {

using manager_support::Clock;
using manager_support::MiB;
using manager_support::MsSince;
using manager_support::NowMs;

absl::Status SandboxManager::Start(const std::string& id, const std::string& name,
                                   Deadline deadline) {
  if (auto st = AcceptingChanges(); !st.ok()) return st;
  auto found = LookupForOperation(id, name);
  if (!found.ok()) return found.status();
  EntryPtr e = *found;
  auto start = [this, e]() -> OperationResult::Value {
    std::string p = Phase(e);
    // Already running or still coming up: the gateway's startup sweep sends
    // Start for those too, and expects OK.
    if (p == phase::kRunning || p == phase::kProvisioning) return true;
    if (p == phase::kStopped) {
      if (auto st = StartLocked(e); !st.ok()) return st;
      return true;
    }
    std::string what = p == phase::kDeleting ? "is being deleted"
                                             : "has exited; its main process is not restarted "
                                               "(delete it and create a new one)";
    return absl::FailedPreconditionError(
        absl::StrCat("sandbox '", e->id, "' ", what, " (phase ", p, ")"));
  };
  return RunOperation(e, kStartOp, "StartSandbox", start, deadline).status();
}

absl::Status SandboxManager::RollBackToStopped(const EntryPtr& e, absl::Status cause) {
  auto st = Transition(e, [](SandboxRecord& r) { r.phase = phase::kStopped; });
  return st.ok() ? cause : st;
}

absl::Status SandboxManager::StartLocked(const EntryPtr& e) {
  StepClock clock;
  FinishPendingRelease(e);  // runsc refuses to restore onto a live record
  clock.Lap("pending release");
  const std::string& id = e->id;
  const std::string& rid = e->runsc_id;
  // Only this operation (the sandbox's queue) changes the record from here on.
  const SandboxRecord stopped = Record(e);
  std::string cold_reason;
  std::optional<CheckpointImage> image;
  if (stopped.checkpoint_json.empty()) {
    cold_reason = "no memory checkpoint was kept when it stopped";
  } else {
    auto parsed = CheckpointFromJson(stopped.checkpoint_json);
    auto verified = parsed.ok() ? VerifyCheckpoint(*parsed) : parsed.status();
    if (verified.ok()) {
      image = *parsed;
    } else {
      cold_reason = absl::StrCat("its checkpoint is unusable (", verified.message(), ")");
    }
  }
  clock.Lap("verify image");
  auto st = Transition(
      e,
      [&](SandboxRecord& r) {
        r.phase = phase::kStarting;
        r.message = image ? "Restoring the sandbox's memory" : "Starting the sandbox cold";
      },
      StateStore::Durability::kProcessCrash);
  if (!st.ok()) return st;
  clock.Lap("record starting");

  auto request = DecodeRequest(stopped.spec_json);
  if (!request.ok()) return RollBackToStopped(e, request.status());
  auto hint = d_.config.checkpoint.token_ttl_hint;
  int64_t age_ms = NowMs() - stopped.created_at_ms;
  // A v0.1.x/Ryno sandbox holds no token (no supervisor).
  if (hint.count() > 0 && age_ms > hint.count() && !IsDriverReadinessMode(request->spec)) {
    // The gateway's token reached the sandbox once, at create (contract
    // §6.10); a supervisor restored after its expiry cannot reconnect.
    std::string warning = absl::StrCat(
        "sandbox was created ", age_ms / 1000, " s ago, beyond checkpoint.token_ttl_hint (",
        hint.count() / 1000, " s): if the gateway's JWT ttl_secs is shorter, its supervisor "
        "cannot authenticate again after this start");
    spdlog::warn("sandbox {}: {}", id, warning);
    PublishEvent(id, "Warning", "TokenMayBeExpired", warning);
  }

  // The bundle is rewritten only when it is missing (an imported sandbox).
  bool have_bundle = std::filesystem::exists(d_.layout.bundle(rid) + "/config.json");
  auto net = ConnectNetwork(e, have_bundle ? !BundleNetnsPath(rid).empty() : WantsNetwork(*request),
                            *request);
  // The digest it ran on, not whatever the tag names today.
  auto rootfs_image = PrepareImage(*request, stopped.image_digest);
  st = !net.ok()            ? net.status()
       : rootfs_image.ok() ? PrepareRootfs(e, *request, *rootfs_image, !have_bundle,
                                           net->has_value() ? &**net : nullptr)
                           : rootfs_image.status();
  if (!st.ok()) {
    return RollBackToStopped(e, absl::FailedPreconditionError(
                                    absl::StrCat("cannot start sandbox '", id, "': ", st.message())));
  }
  clock.Lap("network+image+rootfs");
  // A bundle written just now records the manifest it was built from.
  const std::string new_digest = have_bundle ? "" : rootfs_image->manifest_digest;

  if (image) {
    auto t0 = Clock::now();
    auto handle =
        Launch(e, image->dir, "Sandbox restored from its checkpoint", &clock, new_digest);
    if (handle.ok()) {
      int64_t ms = MsSince(t0);
      // The image has served its purpose (Launch dropped it from the
      // record) and holds all of the sandbox's memory: remove it, after
      // Start has returned.
      Enqueue(e->id, "removing the restored image",
              [this, e, dir = image->dir] { return RemoveStaleCheckpoint(e, dir); });
      spdlog::debug("sandbox {}: start took {}", id, clock.Summary());
      std::string message = absl::StrCat("Restored ", MiB(image->bytes), " of memory in ", ms, " ms");
      spdlog::info("sandbox {}: {}", id, message);
      PublishEvent(id, "Normal", "Restored", message,
                   {{"openshell.gvisor.checkpoint_bytes", std::to_string(image->bytes)},
                    {"openshell.gvisor.restore_ms", std::to_string(ms)}});
      return absl::OkStatus();
    }
    ReleaseRuntime(rid);
    PrepareRootfs(e, *request, *rootfs_image, false).IgnoreError();  // release unmounted it
    // The failed restore may have stripped eth0 again.
    if (net->has_value()) ConnectNetwork(e, true, *request).IgnoreError();
    cold_reason = absl::StrCat("restoring its checkpoint failed (", handle.status().message(), ")");
  }

  std::string message = absl::StrCat("Sandbox booted cold: ", cold_reason,
                                     "; its files were kept, its memory was not");
  spdlog::warn("sandbox {}: {}", id, message);
  auto handle = Launch(e, "", message, nullptr, new_digest);
  if (!handle.ok()) {
    ReleaseRuntime(rid);
    return RollBackToStopped(e, absl::InternalError(absl::StrCat(
                                    "cannot start sandbox '", id, "': ", handle.status().message())));
  }
  // Whatever image there was (verified, corrupt or unrestorable) is stale
  // now that the sandbox runs again; Launch dropped it from the record.
  RemoveTree(CheckpointRoot(rid) + "/image").IgnoreError();
  PublishEvent(id, "Warning", "ColdStart", message,
               {{cold_start::kMetadataKey,
                 cold_start::ReasonFor(!stopped.checkpoint_json.empty(), image.has_value())}});
  return absl::OkStatus();
}

absl::Status SandboxManager::RemoveStaleCheckpoint(const EntryPtr& e, const std::string& dir) {
  {
    // A Stop queued first has sealed a new image in its place.
    std::lock_guard<std::mutex> lock(mu_);
    if (!e->record.checkpoint_json.empty() || e->record.phase == phase::kDeleting) {
      return absl::OkStatus();
    }
  }
  return RemoveTree(dir);
}

}  // namespace osgv
