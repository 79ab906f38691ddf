// SandboxManager: Create, and provisioning in the background: the image,
// the network, the bundle and overlay, then the monitor that runs runsc
// (docs/lifecycle.md, "Create and delete"). Launch is shared with Start.
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "capabilities/generation_validation.h"
#include "lifecycle/bundle/host_mounts.h"
#include "lifecycle/bundle/oci_spec.h"
#include "lifecycle/bundle/sandbox_env.h"
#include "lifecycle/bundle/supervisor_spec.h"
#include "lifecycle/bundle/token_file.h"
#include "lifecycle/bundle/workload_identity.h"
#include "lifecycle/fs_util.h"
#include "lifecycle/manager_support.h"
#include "lifecycle/progress.h"
#include "lifecycle/runsc/cgroups.h"
#include "lifecycle/sandbox_manager.h"
#include "lifecycle/sandbox_status.h"
#include "lifecycle/spec_codec.h"
#include "lifecycle/step_clock.h"

namespace osgv {

using manager_support::NowMs;

absl::Status SandboxManager::Validate(const SandboxRequest& request) const {
  // Also parses the image reference (CheckImage).
  return ValidateSandboxRequest(request, d_.config).status();
}

absl::Status SandboxManager::Create(const SandboxRequest& in, Deadline deadline) {
  if (auto st = AcceptingChanges(); !st.ok()) return st;
  if (Deadline::clock::now() >= deadline) {
    return absl::DeadlineExceededError("CreateSandbox: the deadline passed before it began");
  }
  auto st = Validate(in);
  if (!st.ok()) return st;
  SandboxRequest request = in;
  if (request.spec.tmpl.image.empty()) request.spec.tmpl.image = d_.config.default_image;

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
  if (!request.spec.sandbox_token.empty() && !IsDriverReadinessMode(request.spec)) {
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
  r.created_at_ms = r.updated_at_ms = NowMs();
  EntryPtr e = std::make_shared<Entry>(r);
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
  st = d_.store->Insert(r);
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
  if (IsDriverReadinessMode(request.spec)) PublishPolicyLimitations(request);
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
  ReleaseRuntime(e->runsc_id);
  // Deleted while provisioning: the delete cleans up. Shutting down: the
  // record stays "provisioning" and recovery redoes it.
  if (e->cancel) return absl::OkStatus();
  // A failed sandbox never boots again: its address goes back to the pool.
  DisconnectNetwork(e->runsc_id);
  return Fail(e, reason, std::string(st.message()));
}

absl::StatusOr<PreparedImage> SandboxManager::PrepareImage(const SandboxRequest& request,
                                                          const std::string& pinned_digest) {
  const std::string id = request.id;
  PrepareOptions options;
  options.pull_policy = d_.config.images.pull_policy;
  if (auto dc = ParseDriverConfig(request.spec.tmpl.driver_config_json); dc.ok() && dc->pull_policy) {
    options.pull_policy = *dc->pull_policy;
  }
  options.pinned_digest = pinned_digest;
  // Its errors name the image.
  return d_.images->Prepare(request.spec.tmpl.image, [&](const ImageProgress& p) {
    if (p.pulling) {
      spdlog::info("sandbox {}: pulling {}: {}/{} layers, {}/{} bytes", id, request.spec.tmpl.image,
                   p.layers_done, p.layers_total, p.bytes_done, p.bytes_total);
    }
    PublishEvent(id, "Normal", "PullingLayer",
                 absl::StrCat(p.pulling ? "Pulled" : "Unpacked", " layer ", p.layers_done, "/",
                              p.layers_total),
                 progress::Active(progress::kPullingImage,
                                  absl::StrCat(p.layers_done, "/", p.layers_total, " layers, ",
                                               p.bytes_done, "/", p.bytes_total, " bytes")));
  }, options);
}

absl::Status SandboxManager::PrepareRootfs(const EntryPtr& e, const SandboxRequest& request,
                                           const PreparedImage& image, bool write_bundle,
                                           const NetworkAttachment* net) {
  const std::string& rid = e->runsc_id;
  const auto& L = d_.layout;
  if (write_bundle) {
    auto validated = ValidateSandboxRequest(request, d_.config);
    if (!validated.ok()) return validated.status();
    SpecInputs in;
    in.request = &request;
    in.image = &image.config;
    const std::string sdir = L.sandbox_dir(rid);
    // A v0.1.x/Ryno sandbox never runs the pin-era supervisor: its gateway
    // would not accept it (docs/supervisor.md, "v0.1.x and Ryno gateways").
    if (SupervisorEnabled(d_.config) && !IsDriverReadinessMode(request.spec)) {
      // The supervisor runs as root and resolves the image's user itself.
      if (auto st = CheckSupervisorHostFiles(d_.config); !st.ok()) return st;
      SupervisorInputs sin;
      sin.config = &d_.config;
      sin.request = &request;
      sin.image = &image.config;
      sin.token_file = HasTokenFile(sdir) ? TokenFilePath(sdir) : "";
      sin.telemetry_enabled = DriverTelemetryEnabled();
      sin.rootfs_dir = image.rootfs_dir;  // fail at create if it lacks bash, ip or nsenter
      auto sup = BuildSupervisorSpec(sin);
      if (!sup.ok()) return sup.status();
      in.supervisor = std::move(sup->process);
      in.extra_mounts = std::move(sup->mounts);
    } else {
      auto user = ResolveWorkloadUser(request.spec, image.config.user, image.rootfs_dir);
      if (!user.ok()) return user.status();
      in.user = *user;
      SandboxEnvInputs ein;
      ein.config = &d_.config;
      ein.request = &request;
      ein.image = &image.config;
      auto env = BuildSandboxEnvironment(ein);
      if (!env.ok()) return env.status();
      in.env = *std::move(env);
    }
    // After the supervisor's mounts: `run --mount` cannot cover them (the
    // reserved-path check refuses their destinations anyway).
    auto host_mounts = HostBindMounts(request.spec.host_mounts);
    if (!host_mounts.ok()) return host_mounts.status();
    in.extra_mounts.insert(in.extra_mounts.end(), host_mounts->begin(), host_mounts->end());
    in.cgroups_path = SandboxCgroupPath(rid);
    in.memory_limit_bytes = validated->memory_limit_bytes;
    in.cpu_limit_millis = validated->cpu_limit_millis;
    in.pids_limit = validated->pids_limit;
    if (net != nullptr) {
      in.netns_path = net->netns_path;
      in.extra_mounts.push_back({net->hosts_path, "/etc/hosts", true});
      in.extra_mounts.push_back({net->resolv_conf_path, "/etc/resolv.conf", true});
    }
    auto spec = BuildRuntimeSpec(in);
    if (!spec.ok()) return spec.status();
    for (const auto& dir : {L.sandbox_dir(rid), L.upper(rid), L.work(rid), L.rootfs(rid)}) {
      if (auto st = MakeDirs(dir, 0700); !st.ok()) return st;
    }
    // The bundle must be traversable by the sandbox's unprivileged host
    // processes; the sandbox dir above it stays private to root.
    chmod(L.bundle(rid).c_str(), 0711);
    chmod(L.rootfs(rid).c_str(), 0755);
    // overlayfs gives the merged root the upper dir's mode and owner. With
    // MakeDirs' 0700 a non-root image USER (which the supervisor requires)
    // could not even reach /bin: the image's root decides, as in any runtime.
    if (struct stat root; stat(image.rootfs_dir.c_str(), &root) == 0) {
      if (chown(L.upper(rid).c_str(), root.st_uid, root.st_gid) != 0 ||
          chmod(L.upper(rid).c_str(), root.st_mode & 07777) != 0) {
        return absl::InternalError(absl::StrCat("sandbox root '", L.upper(rid), "': ",
                                                std::strerror(errno)));
      }
    }
    auto st = WriteFileReplace(L.bundle(rid) + "/config.json", spec->dump(2), 0600);
    if (!st.ok()) return st;
  }
  if (!d_.mounter->IsMounted(L.rootfs(rid))) {
    auto st = d_.mounter->MountOverlay(image.rootfs_dir, L.upper(rid), L.work(rid), L.rootfs(rid));
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::StatusOr<MonitorHandle> SandboxManager::Launch(const EntryPtr& e,
                                                     const std::string& restore_dir,
                                                     const std::string& running_message,
                                                     StepClock* clock,
                                                     const std::string& image_digest,
                                                     const std::function<absl::Status()>& confirm) {
  const std::string& rid = e->runsc_id;
  const auto& L = d_.layout;
  RemoveTree(L.exit_file(rid)).IgnoreError();  // a previous incarnation's
  MonitorSpec ms;
  ms.runsc = d_.runsc->options();
  ms.runsc_flags = d_.runsc->features().flags;
  ms.container_id = rid;
  ms.bundle = L.bundle(rid);
  ms.console_log = L.console_log(rid);
  ms.console_log_max_bytes = d_.config.sandbox.console_log_max_bytes;
  ms.exit_file = L.exit_file(rid);
  ms.log_file = L.monitor_log(rid);
  ms.restore_image_dir = restore_dir;
  // The bundle says how the sandbox was made, so a sandbox keeps its
  // network mode across restarts of a driver whose configuration changed.
  if (std::string netns = BundleNetnsPath(rid); !netns.empty()) {
    ms.runsc.network = "sandbox";
    ms.runsc.netns_path = netns;
  }
  auto handle = d_.monitors->Launch(ms, L.monitor_spec(rid));
  if (!handle.ok()) {
    RemoveLeakedCgroups(d_.cgroup_root, rid);
    return handle.status();
  }
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
  auto image = PrepareImage(request);
  if (!image.ok()) return image.status();
  clock.Lap("image");
  if (e->cancel) return absl::CancelledError("deleted");
  PublishEvent(request.id, "Normal", "Pulled", absl::StrCat("Image ", image->manifest_digest, " ready"),
               progress::Step(progress::kPullingImage, "Image ready", progress::kStartingSandbox, ""));

  *failure_reason = reason::kContainerCreateFailed;
  auto net = ConnectNetwork(e, WantsNetwork(request), request);
  if (!net.ok()) return net.status();
  if (auto st = PrepareRootfs(e, request, *image, /*write_bundle=*/true,
                              net->has_value() ? &**net : nullptr);
      !st.ok()) {
    return st;
  }
  if (e->cancel) return absl::CancelledError("deleted");
  clock.Lap("network+rootfs");

  *failure_reason = reason::kContainerStartFailed;
  auto handle = Launch(e, "", "Sandbox is running", &clock, image->manifest_digest);
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
