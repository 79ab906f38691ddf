// SandboxManager: Create, and provisioning in the background: the image,
// the network, the bundle and overlay, then the monitor that runs runsc
// (docs/lifecycle.md, "Create and delete"). Launch is shared with Start.
#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "lifecycle/bundle/token_file.h"
#include "lifecycle/fs_util.h"
#include "lifecycle/network/policy_fence.h"
#include "lifecycle/progress.h"
#include "lifecycle/sandbox_manager.h"
#include "lifecycle/sandbox_status.h"
#include "lifecycle/spec_codec.h"
#include "lifecycle/step_clock.h"
#include "lifecycle/wall_clock.h"

namespace osgv {


absl::Status SandboxManager::Validate(const SandboxRequest& request) const {
  // Also parses the image reference (CheckImage).
  return PlanSandbox(request, d_.config).status();
}

absl::Status SandboxManager::Create(const SandboxRequest& in, Deadline deadline) {
  if (auto st = AcceptingChanges(); !st.ok()) return st;
  if (Deadline::clock::now() >= deadline) {
    return absl::DeadlineExceededError("CreateSandbox: the deadline passed before it began");
  }
  // The one validation of this create: from here on the plan answers.
  auto plan = PlanSandbox(in, d_.config);
  if (!plan.ok()) return plan.status();
  SandboxRequest request = in;
  request.spec.tmpl.image = plan->image;

  auto new_rid = NewRunscId();
  if (!new_rid.ok()) return new_rid.status();
  const std::string rid = *new_rid;
  const std::string sdir = d_.layout.sandbox_dir(rid);
  // The gateway sends the token once, here (contract §6.10): keep it in a
  // 0600 file of its own, never in the record, env, argv or a log. Written
  // before the record exists: a crash in between leaves an orphan dir that
  // recovery removes. A v0.1.x/Ryno sandbox runs no supervisor, so its
  // token has no reader and is dropped here.
  bool wrote_token = false;
  if (!request.spec.sandbox_token.empty() && !plan->policy_fence) {
    if (auto st = WriteTokenFile(sdir, request.spec.sandbox_token); !st.ok()) return st;
    wrote_token = true;
  }
  auto forget_token = [&] {
    if (wrote_token) RemoveTree(sdir).IgnoreError();
  };
  SandboxRecord r;
  r.id = request.id;
  r.name = request.name;
  r.namespace_name = request.namespace_name;
  r.workspace = request.workspace;
  r.runsc_id = rid;
  r.image_ref = request.spec.tmpl.image;
  r.phase = phase::kProvisioning;
  r.reason = reason::kStarting;
  r.message = "Sandbox accepted; preparing image";
  r.spec_json = EncodeRequest(request);
  r.plan_json = EncodePlan(*plan);
  r.created_at_ms = r.updated_at_ms = UnixNowMs();
  EntryPtr e = std::make_shared<Entry>(&seams_, r, *plan);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto taken = [&](const SandboxRecord& other) {
      return other.name == request.name && other.workspace == request.workspace;
    };
    if (entries_.count(request.id) || creating_.count(request.id)) {
      forget_token();
      return absl::AlreadyExistsError(
          absl::StrCat("sandbox.id: a sandbox with id '", request.id, "' already exists"));
    }
    bool name_taken = false;
    for (const auto& [id, other] : entries_) name_taken |= taken(other->record);
    for (const auto& [id, other] : creating_) name_taken |= taken(other);
    if (name_taken) {
      forget_token();
      return absl::AlreadyExistsError(absl::StrCat("sandbox.name: a sandbox named '",
                                                   request.name, "' already exists in workspace '",
                                                   request.workspace, "'"));
    }
    // Reserved: another create of this id or name is refused meanwhile.
    creating_[r.id] = r;
  }
  // Durable before we say yes: a crash from here on is recovered. Written
  // outside mu_, so List, Get and Watch never wait for its fsync.
  auto st = d_.store->Insert(r);
  {
    std::lock_guard<std::mutex> lock(mu_);
    creating_.erase(r.id);
    if (!st.ok()) {
      forget_token();
      // A duplicate is the request's fault; anything else is the disk's.
      if (!absl::IsAlreadyExists(st)) LatchBackgroundError(st);
      return st;
    }
    entries_[r.id] = e;
    WatchEvent ev;
    ev.kind = WatchEvent::Kind::kSandbox;
    ev.sandbox = SnapshotOf(r);
    d_.events->Publish(ev);
  }
  spdlog::info("sandbox {} ({}): accepted, image {}", request.id, request.name,
               request.spec.tmpl.image);
  PublishEvent(request.id, "Normal", "Scheduled", "Sandbox accepted by the gvisor driver",
               progress::Step(progress::kRequestingSandbox, "Sandbox allocated",
                              progress::kPullingImage, ""));
  if (e->plan.policy_fence) PublishPolicyLimitations(e, request);
  // The record is durable: provisioning is the sandbox's first operation.
  Enqueue(e->id, "provisioning", [this, e, request = std::move(request)] {
    return Provision(e, request);
  });
  return absl::OkStatus();
}

absl::Status SandboxManager::Provision(const EntryPtr& e, const SandboxRequest& request) {
  if (e->cancel || Phase(e) != phase::kProvisioning) return absl::OkStatus();
  std::string reason;
  auto st = ProvisionSteps(e, request, &reason);
  if (st.ok()) return st;
  e->host.Release();
  // Deleted while provisioning: the delete cleans up. Shutting down: the
  // record stays "provisioning" and recovery redoes it.
  if (e->cancel) return absl::OkStatus();
  // A failed sandbox never boots again: its address goes back to the pool.
  e->host.DisconnectNetwork();
  return Fail(e, reason, std::string(st.message()));
}

absl::StatusOr<PreparedImage> SandboxManager::PrepareImage(const EntryPtr& e,
                                                          const std::string& pinned_digest) {
  const std::string& id = e->id;
  const std::string& ref = e->plan.image;
  return e->host.PrepareImage(pinned_digest, [&](const ImageProgress& p) {
    if (p.pulling) {
      spdlog::info("sandbox {}: pulling {}: {}/{} layers, {}/{} bytes", id, ref, p.layers_done,
                   p.layers_total, p.bytes_done, p.bytes_total);
    }
    PublishEvent(id, "Normal", "PullingLayer",
                 absl::StrCat(p.pulling ? "Pulled" : "Unpacked", " layer ", p.layers_done, "/",
                              p.layers_total),
                 progress::Active(progress::kPullingImage,
                                  absl::StrCat(p.layers_done, "/", p.layers_total, " layers, ",
                                               p.bytes_done, "/", p.bytes_total, " bytes")));
  });
}

absl::Status SandboxManager::WriteBundle(const EntryPtr& e, const SandboxRequest& request,
                                         const PreparedImage& image,
                                         const NetworkAttachment* net) {
  // A record from before plans whose request no longer validates has only
  // the bundle it was made with.
  if (!e->plan_status.ok()) return e->plan_status;
  return e->host.WriteBundle(request, image, net);
}

absl::StatusOr<std::optional<NetworkAttachment>> SandboxManager::ConnectNetwork(
    const EntryPtr& e, const SandboxRequest& request) {
  return e->host.ConnectNetwork(request, [this, id = e->id](const std::string& reason,
                                                            const std::string& message) {
    PublishEvent(id, "Warning", reason, message);
  });
}

void SandboxManager::PublishPolicyLimitations(const EntryPtr& e, const SandboxRequest& request) {
  std::vector<std::string> lines = request.spec.policy.not_enforced;
  FenceContext context;
  context.networked = e->plan.networked;
  context.egress_allowed = d_.config.network.egress == "allow";
  context.subnet = d_.config.network.subnet;
  for (auto& line : FenceLimitations(request.spec.policy, context)) lines.push_back(line);
  for (const auto& line : lines) {
    spdlog::warn("sandbox {}: policy not enforced: {}", request.id, line);
    PublishEvent(request.id, "Warning", "PolicyNotEnforced", line);
  }
}

absl::StatusOr<MonitorHandle> SandboxManager::Launch(const EntryPtr& e,
                                                     const NetworkAttachment* net,
                                                     const std::string& restore_dir,
                                                     const std::string& running_message,
                                                     StepClock* clock,
                                                     const std::string& image_digest,
                                                     const std::function<absl::Status()>& confirm) {
  auto handle = e->host.LaunchMonitor(net, restore_dir);
  if (!handle.ok()) return handle.status();
  if (clock) {
    clock->Lap("monitor");
    clock->Note(restore_dir.empty() ? "of which runsc create+start" : "of which runsc restore",
                handle->runsc_ms);
  }
  if (confirm) {
    if (auto st = confirm(); !st.ok()) return st;
  }
  auto st = Transition(e, [&](SandboxRecord& r) {
    r.phase = phase::kRunning;
    r.reason = reason::kBackendReady;
    r.message = running_message;
    r.monitor_pid = handle->monitor_pid;
    r.exit_code.reset();
    // Recorded with this transition rather than when the bundle was
    // written: one fsync less on the create path, and a crash before it
    // re-provisions anyway.
    if (!image_digest.empty()) r.image_digest = image_digest;
    // A running sandbox has moved on from any image it was restored from:
    // restoring that again would roll its memory back behind its files.
    r.checkpoint_json.clear();
  });
  if (!st.ok()) return st;
  if (clock) clock->Lap("record running");
  WatchExit(e, handle->monitor_pid);
  return handle;
}

absl::Status SandboxManager::ProvisionSteps(const EntryPtr& e, const SandboxRequest& request,
                                            std::string* failure_reason) {
  StepClock clock;
  *failure_reason = reason::kImagePullFailed;
  auto image = PrepareImage(e);
  if (!image.ok()) return image.status();
  clock.Lap("image");
  if (e->cancel) return absl::CancelledError("deleted");
  PublishEvent(request.id, "Normal", "Pulled", absl::StrCat("Image ", image->manifest_digest, " ready"),
               progress::Step(progress::kPullingImage, "Image ready", progress::kStartingSandbox, ""));

  *failure_reason = reason::kContainerCreateFailed;
  auto net = ConnectNetwork(e, request);
  if (!net.ok()) return net.status();
  const NetworkAttachment* attached = net->has_value() ? &**net : nullptr;
  if (auto st = WriteBundle(e, request, *image, attached); !st.ok()) return st;
  if (auto st = e->host.MountRootfs(*image); !st.ok()) return st;
  if (e->cancel) return absl::CancelledError("deleted");
  clock.Lap("network+rootfs");

  *failure_reason = reason::kContainerStartFailed;
  auto handle = Launch(e, attached, "", "Sandbox is running", &clock, image->manifest_digest);
  if (!handle.ok()) {
    if (absl::IsFailedPrecondition(handle.status())) *failure_reason = reason::kContainerCreateFailed;
    return handle.status();
  }
  spdlog::info("sandbox {} ({}): running as {} (sandbox pid {}, monitor pid {})", request.id,
               request.name, e->runsc_id, handle->sandbox_pid, handle->monitor_pid);
  spdlog::debug("sandbox {}: provisioning took {}", request.id, clock.Summary());
  PublishEvent(request.id, "Normal", "Started", "Sandbox started",
               progress::Active(progress::kStartingSandbox, "Sandbox started"));
  return absl::OkStatus();
}

}  // namespace osgv
