// SandboxManager: Start, which restores a stopped sandbox from its
// checkpoint with `runsc restore`, or boots it cold when there is no usable
// image or the restore fails (docs/lifecycle.md, "Start: restore").
#include <spdlog/spdlog.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "lifecycle/checkpoint/checkpoint_image.h"
#include "lifecycle/checkpoint/cold_start.h"
#include "lifecycle/checkpoint/restore_gate.h"
#include "lifecycle/fs_util.h"
#include "lifecycle/manager_support.h"
#include "lifecycle/sandbox_manager.h"
#include "lifecycle/sandbox_status.h"
#include "lifecycle/spec_codec.h"
#include "lifecycle/step_clock.h"

namespace osgv {
namespace {

std::string Unusable(const absl::Status& why) {
  return absl::StrCat("its checkpoint is unusable (", why.message(), ")");
}

// The directory `runsc restore` reads: a gate's view while the image is
// verified (restore_gate.h), or the image itself, verified first when it
// cannot be gated (a flate image was verified before this). Not OK: the
// image must not be restored.
absl::StatusOr<std::string> RestoreSource(const std::string& id, const CheckpointImage& image,
                                          const std::string& view_dir,
                                          std::unique_ptr<RestoreGate>* gate) {
  if (!RestoreGate::Applies(image)) return image.dir;
  auto opened = RestoreGate::Open(image, view_dir);
  if (opened.ok()) {
    *gate = *std::move(opened);
    return (*gate)->dir();
  }
  if (absl::IsDataLoss(opened.status())) return opened.status();
  spdlog::warn("sandbox {}: cannot verify its image while restoring ({}); verifying it first", id,
               std::string(opened.status().message()));
  if (auto st = VerifyCheckpoint(image); !st.ok()) return st;
  return image.dir;
}

// Launch's last word on a gated restore: the verdict, whatever runsc did.
// With the runsc this driver knows, the restore cannot have finished
// before the gate released it; one that did ran restored code unverified.
absl::Status ConfirmVerified(const std::string& id, RestoreGate* gate) {
  if (gate == nullptr) return absl::OkStatus();
  bool released = gate->released();
  absl::Status verdict = gate->Wait();
  if (!released) {
    spdlog::error("sandbox {}: runsc finished restoring before its image was verified ({}): this "
                  "runsc does not wait for the whole of pages_meta.img (docs/lifecycle.md)",
                  id, verdict.ok() ? std::string("it matched") : std::string(verdict.message()));
  }
  return verdict;
}

}  // namespace

using manager_support::Clock;
using manager_support::MsSince;

absl::Status SandboxManager::Start(const std::string& id, const std::string& name,
                                   Deadline deadline) {
  if (auto st = AcceptingChanges(); !st.ok()) return st;
  auto found = LookupForOperation(id, name);
  if (!found.ok()) return found.status();
  EntryPtr e = *found;
  auto start = [this, e]() -> OperationResult::Value {
    const SandboxPhase p = Phase(e);
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
        absl::StrCat("sandbox '", e->id, "' ", what, " (phase ", PhaseName(p), ")"));
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
  // Only this operation (the sandbox's queue) changes the record from here on.
  const SandboxRecord stopped = Record(e);
  std::string cold_reason;
  std::optional<CheckpointImage> image;
  if (stopped.checkpoint_json.empty()) {
    cold_reason = "no memory checkpoint was kept when it stopped";
  } else {
    auto parsed = CheckpointFromJson(stopped.checkpoint_json);
    // A gated image is verified while runsc restores it (below).
    auto verified = !parsed.ok()                     ? parsed.status()
                    : RestoreGate::Applies(*parsed) ? absl::OkStatus()
                                                    : VerifyCheckpoint(*parsed);
    if (verified.ok()) {
      image = *parsed;
    } else {
      cold_reason = Unusable(verified);
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
  int64_t age_ms = UnixNowMs() - stopped.created_at_ms;
  // A v0.1.x/Ryno sandbox holds no token (no supervisor).
  if (hint.count() > 0 && age_ms > hint.count() && !e->plan.policy_fence) {
    // The gateway's token reached the sandbox once, at create (contract
    // §6.10); a supervisor restored after its expiry cannot reconnect.
    std::string warning = absl::StrCat(
        "sandbox was created ", age_ms / 1000, " s ago, beyond checkpoint.token_ttl_hint (",
        hint.count() / 1000, " s): if the gateway's JWT ttl_secs is shorter, its supervisor "
        "cannot authenticate again after this start");
    spdlog::warn("sandbox {}: {}", id, warning);
    PublishEvent(id, "Warning", "TokenMayBeExpired", warning);
  }

  // The bundle is written only when it is missing (an imported sandbox).
  bool have_bundle = e->host.HasBundle();
  auto net = ConnectNetwork(e, *request);
  const NetworkAttachment* attached = net.ok() && net->has_value() ? &**net : nullptr;
  // The digest it ran on, not whatever the tag names today.
  auto rootfs_image = PrepareImage(e, stopped.image_digest);
  st = !net.ok()             ? net.status()
       : !rootfs_image.ok() ? rootfs_image.status()
       : have_bundle        ? absl::OkStatus()
                            : WriteBundle(e, *request, *rootfs_image, attached);
  if (st.ok()) st = e->host.MountRootfs(*rootfs_image);
  if (!st.ok()) {
    return RollBackToStopped(e, absl::FailedPreconditionError(
                                    absl::StrCat("cannot start sandbox '", id, "': ", st.message())));
  }
  clock.Lap("network+image+rootfs");
  // A bundle written just now records the manifest it was built from.
  const std::string new_digest = have_bundle ? "" : rootfs_image->manifest_digest;

  auto t0 = Clock::now();
  std::unique_ptr<RestoreGate> gate;
  auto source = image ? RestoreSource(id, *image, e->host.checkpoint().restore_view(), &gate)
                      : absl::StatusOr<std::string>("");
  if (!source.ok()) {
    cold_reason = Unusable(source.status());
    image.reset();  // ColdStart's reason: unusable, not a failed restore
  }
  if (image) {
    clock.Lap("gate");
    auto handle = Launch(e, attached, *source, "Sandbox restored from its checkpoint", &clock,
                         new_digest,
                         [&] { return ConfirmVerified(id, gate.get()); });
    if (handle.ok()) {
      // Confirmed, so its verification has finished.
      if (gate) clock.Note("of which verification alongside", gate->verify_ms());
      gate.reset();  // its view links into the image, removed next
      int64_t ms = MsSince(t0);
      // The image has served its purpose (Launch dropped it from the
      // record) and holds all of the sandbox's memory: remove it, after
      // Start has returned.
      Enqueue(e->id, "removing the restored image",
              [this, e, dir = image->dir] { return RemoveStaleCheckpoint(e, dir); });
      spdlog::debug("sandbox {}: start took {}", id, clock.Summary());
      std::string message = absl::StrCat("Restored ", DescribeMiB(image->bytes), " of memory in ", ms, " ms");
      spdlog::info("sandbox {}: {}", id, message);
      PublishEvent(id, "Normal", "Restored", message,
                   {{"openshell.gvisor.checkpoint_bytes", std::to_string(image->bytes)},
                    {"openshell.gvisor.restore_ms", std::to_string(ms)}});
      return absl::OkStatus();
    }
    // A restore that failed because its image did not match says so.
    absl::Status verdict;
    if (gate) {
      gate->Abort();
      verdict = gate->Wait();
      gate.reset();
    }
    e->host.Release();
    // Only a restore that finished before its verification (ConfirmVerified)
    // leaves a monitor behind; its exit record must not outlive the cold boot.
    if (!verdict.ok()) e->host.WaitForMonitorEnd();
    e->host.MountRootfs(*rootfs_image).IgnoreError();  // release unmounted it
    // The failed restore may have stripped eth0 again.
    if (attached != nullptr) ConnectNetwork(e, *request).IgnoreError();
    cold_reason = !verdict.ok() ? Unusable(verdict)
                                : absl::StrCat("restoring its checkpoint failed (",
                                               handle.status().message(), ")");
    if (!verdict.ok()) image.reset();
  }

  std::string message = absl::StrCat("Sandbox booted cold: ", cold_reason,
                                     "; its files were kept, its memory was not");
  spdlog::warn("sandbox {}: {}", id, message);
  auto handle = Launch(e, attached, "", message, nullptr, new_digest);
  if (!handle.ok()) {
    e->host.Release();
    return RollBackToStopped(e, absl::InternalError(absl::StrCat(
                                    "cannot start sandbox '", id, "': ", handle.status().message())));
  }
  // Whatever image there was (verified, corrupt or unrestorable) is stale
  // now that the sandbox runs again; Launch dropped it from the record.
  RemoveTree(e->host.checkpoint().image()).IgnoreError();
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
