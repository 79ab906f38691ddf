#include "lifecycle/sandbox_manager.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <set>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "lifecycle/bundle/host_mounts.h"
#include "lifecycle/bundle/oci_spec.h"
#include "lifecycle/bundle/sandbox_env.h"
#include "lifecycle/bundle/supervisor_spec.h"
#include "lifecycle/bundle/token_file.h"
#include "lifecycle/checkpoint/checkpoint_image.h"
#include "lifecycle/checkpoint/cold_start.h"
#include "lifecycle/console_tail.h"
#include "lifecycle/fs_util.h"
#include "lifecycle/log_context.h"
#include "lifecycle/progress.h"
#include "lifecycle/random_hex.h"
#include "lifecycle/runsc/cgroups.h"
#include "lifecycle/sandbox_status.h"
#include "lifecycle/spec_codec.h"
#include "lifecycle/step_clock.h"
#include "lifecycle/store/record_lookup.h"

namespace osgv {
namespace {

using Clock = std::chrono::steady_clock;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t MsSince(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

std::string MiB(uint64_t bytes) {
  return absl::StrCat(absl::SixDigits(static_cast<double>(bytes) / (1 << 20)), " MiB");
}

}  // namespace

// The memory limit the sandbox runs with (request, else driver default).
uint64_t SandboxManager::MemoryLimitOf(const EntryPtr& e) const {
  auto request = DecodeRequest(Record(e).spec_json);
  if (!request.ok()) return 0;
  auto validated = ValidateSandboxRequest(*request, d_.config);
  return validated.ok() ? validated->memory_limit_bytes : 0;
}

SandboxManager::SandboxManager(ManagerDeps deps) : d_(std::move(deps)) {}

SandboxManager::~SandboxManager() { Shutdown(); }

void SandboxManager::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(tasks_mu_);
    shutting_down_ = true;
  }
  shutdown_cv_.notify_all();
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, e] : entries_) e->cancel = true;
  }
  std::unique_lock<std::mutex> lock(tasks_mu_);
  tasks_cv_.wait(lock, [this] { return active_tasks_ == 0; });
}

void SandboxManager::RunInBackground(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(tasks_mu_);
    // Shutdown waits for the tasks it knows of; none may start after it.
    if (shutting_down_) return;
    ++active_tasks_;
  }
  // Background work logs under the trace id of the call that started it.
  std::thread([this, task = std::move(task), trace = CurrentTraceId()] {
    ScopedTraceId scoped(trace);
    task();
    std::lock_guard<std::mutex> lock(tasks_mu_);
    --active_tasks_;
    tasks_cv_.notify_all();
  }).detach();
}

// ---- queries ---------------------------------------------------------------

SandboxManager::EntryPtr SandboxManager::Lookup(const std::string& id,
                                                const std::string& name) const {
  if (!id.empty()) {
    auto it = entries_.find(id);
    return it == entries_.end() ? nullptr : it->second;
  }
  for (const auto& [eid, e] : entries_) {
    if (e->name == name) return e;
  }
  return nullptr;
}

absl::StatusOr<SandboxManager::EntryPtr> SandboxManager::LookupForOperation(
    const std::string& id, const std::string& name) const {
  if (id.empty() && name.empty()) {
    return absl::InvalidArgumentError("sandbox_id: required (or sandbox_name)");
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto e = Lookup(id, name);
  if (!e) {
    return absl::NotFoundError(absl::StrCat("sandbox '", id.empty() ? name : id, "' not found"));
  }
  return e;
}

std::string SandboxManager::Phase(const EntryPtr& e) const {
  std::lock_guard<std::mutex> lock(mu_);
  return e->record.phase;
}

SandboxRecord SandboxManager::Record(const EntryPtr& e) const {
  std::lock_guard<std::mutex> lock(mu_);
  return e->record;
}

absl::StatusOr<SandboxSnapshot> SandboxManager::Get(const std::string& id,
                                                    const std::string& name) const {
  auto e = LookupForOperation(id, name);
  if (!e.ok()) return e.status();
  std::lock_guard<std::mutex> lock(mu_);
  return SnapshotOf((*e)->record);
}

std::vector<SandboxSnapshot> SandboxManager::List() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<SandboxSnapshot> out;
  for (const auto& [id, e] : entries_) out.push_back(SnapshotOf(e->record));
  return out;
}

WatchStart SandboxManager::Watch() {
  // Under mu_ no transition can publish, so the list and the subscription
  // see exactly the same history.
  std::lock_guard<std::mutex> lock(mu_);
  WatchStart w;
  w.subscription = d_.events->Subscribe();
  for (const auto& [id, e] : entries_) w.snapshots.push_back(SnapshotOf(e->record));
  return w;
}

absl::StatusOr<SandboxRecord> SandboxManager::Find(const std::string& id_or_name) const {
  std::vector<SandboxRecord> records;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, e] : entries_) records.push_back(e->record);
  }
  return FindRecord(records, id_or_name);
}

// ---- state changes -----------------------------------------------------------

absl::Status SandboxManager::Transition(const EntryPtr& e,
                                        const std::function<void(SandboxRecord&)>& mutate,
                                        StateStore::Durability durability) {
  // This sandbox's writers queue here; the manager-wide lock is held only
  // to read and to swap in the record, never across the commit, so a slow
  // disk stalls neither other sandboxes nor Get, List and Watch.
  std::lock_guard<std::mutex> writer(e->record_mu);
  SandboxRecord next;
  {
    std::lock_guard<std::mutex> lock(mu_);
    next = e->record;
  }
  std::string old_phase = next.phase;
  mutate(next);
  // Once a delete has begun, an operation finishing in parallel must not
  // make the record look alive again: a crash then would lose the delete.
  if (old_phase == phase::kDeleting) next.phase = phase::kDeleting;
  if (next.phase != old_phase) next.updated_at_ms = NowMs();
  next.generation++;
  auto st = d_.store->Update(next, durability);
  if (!st.ok()) {
    spdlog::error("sandbox {}: cannot persist phase {}: {}", next.id, next.phase, st.ToString());
    return st;
  }
  // Swapped and published together, so a Watch that starts (snapshot, then
  // subscribe, under mu_) sees each change exactly once.
  std::lock_guard<std::mutex> lock(mu_);
  e->record = next;
  WatchEvent ev;
  ev.kind = WatchEvent::Kind::kSandbox;
  ev.sandbox = SnapshotOf(next);
  d_.events->Publish(ev);
  return absl::OkStatus();
}

void SandboxManager::PublishEvent(const std::string& sandbox_id, const std::string& type,
                                  const std::string& reason, const std::string& message,
                                  std::map<std::string, std::string> metadata) {
  WatchEvent ev;
  ev.kind = WatchEvent::Kind::kPlatformEvent;
  ev.sandbox_id = sandbox_id;
  ev.event.timestamp_ms = NowMs();
  ev.event.source = "gvisor";
  ev.event.type = type;
  ev.event.reason = reason;
  ev.event.message = message;
  ev.event.metadata = std::move(metadata);
  d_.events->Publish(ev);
}

void SandboxManager::Fail(const EntryPtr& e, const std::string& reason,
                          const std::string& message) {
  spdlog::warn("sandbox {}: {}: {}", e->id, reason, message);
  Transition(e, [&](SandboxRecord& r) {
    r.phase = phase::kFailed;
    r.reason = reason;
    r.message = message;
    r.monitor_pid = 0;
  }).IgnoreError();
  PublishEvent(e->id, "Warning", reason, message);
}

// ---- create ------------------------------------------------------------------

absl::Status SandboxManager::Validate(const SandboxRequest& request) const {
  // Also parses the image reference (CheckImage).
  return ValidateSandboxRequest(request, d_.config).status();
}

absl::Status SandboxManager::Create(const SandboxRequest& in) {
  if (shutting_down_) return absl::UnavailableError("driver is shutting down");
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
  // recovery removes.
  bool wrote_token = false;
  if (!request.spec.sandbox_token.empty()) {
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
    if (entries_.count(request.id)) {
      forget_token();
      return absl::AlreadyExistsError(
          absl::StrCat("sandbox.id: a sandbox with id '", request.id, "' already exists"));
    }
    for (const auto& [id, other] : entries_) {
      if (other->record.name == request.name && other->record.workspace == request.workspace) {
        forget_token();
        return absl::AlreadyExistsError(absl::StrCat("sandbox.name: a sandbox named '",
                                                     request.name, "' already exists in workspace '",
                                                     request.workspace, "'"));
      }
    }
    // Durable before we say yes: a crash from here on is recovered.
    st = d_.store->Insert(r);
    if (!st.ok()) {
      forget_token();
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
  RunInBackground([this, e, request = std::move(request)]() mutable {
    Provision(e, std::move(request));
  });
  return absl::OkStatus();
}

void SandboxManager::Provision(const EntryPtr& e, SandboxRequest request) {
  std::lock_guard<std::mutex> op(e->op_mu);
  if (e->cancel || Phase(e) != phase::kProvisioning) return;
  std::string reason;
  auto st = ProvisionSteps(e, request, &reason);
  if (st.ok()) return;
  ReleaseRuntime(e->runsc_id);
  // Deleted while provisioning: the delete cleans up. Shutting down: the
  // record stays "provisioning" and recovery redoes it.
  if (e->cancel) return;
  // A failed sandbox never boots again: its address goes back to the pool.
  DisconnectNetwork(e->runsc_id);
  Fail(e, reason, std::string(st.message()));
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
    if (SupervisorEnabled(d_.config)) {
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
      auto user = ResolveImageUser(image.config.user, image.rootfs_dir);
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
                                                     const std::string& image_digest) {
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
  auto net = ConnectNetwork(e, WantsNetwork(request));
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

// ---- exit --------------------------------------------------------------------

void SandboxManager::WatchExit(const EntryPtr& e, int pid) {
  std::string id = e->id;
  uint64_t seq = ++e->launch_seq;
  d_.exits->Watch(pid, [this, id, seq] {
    // Never block the watcher thread on a sandbox's operation lock.
    if (!shutting_down_) RunInBackground([this, id, seq] { OnMonitorExit(id, seq); });
  });
}

void SandboxManager::OnMonitorExit(const std::string& id, uint64_t seq) {
  EntryPtr e;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return;
    e = it->second;
  }
  std::lock_guard<std::mutex> op(e->op_mu);
  if (shutting_down_ || seq != e->launch_seq) return;  // an earlier incarnation
  const std::string& rid = e->runsc_id;
  if (Phase(e) != phase::kRunning) return;  // stopping, deleting, ...
  auto exit = ReadExitRecord(d_.layout.exit_file(rid));
  std::optional<int> code;
  std::string message;
  if (exit.ok() && exit->has_value()) {
    code = (*exit)->exit_code;
    message = DescribeExit(*code);
  } else {
    message = "main process exited; its exit code was lost (the sandbox monitor ended first)";
  }
  AppendLastOutput(rid, &message);
  // The host's memory-cgroup OOM killer ends the whole sandbox (runsc.md
  // §7); say so rather than report a bare signal. Read before the cgroup
  // goes away with the container.
  const char* exit_reason = reason::kProcessExited;
  if (SandboxOomKills(d_.cgroup_root, rid) > 0) {
    exit_reason = reason::kOOMKilled;
    message = absl::StrCat("the sandbox ran out of memory and was killed (memory limit ",
                           MiB(MemoryLimitOf(e)), "); ", message);
  }
  ReleaseRuntime(rid);
  spdlog::info("sandbox {}: {}", id, message);
  Transition(e, [&](SandboxRecord& r) {
    r.phase = phase::kExited;
    r.reason = exit_reason;
    r.message = message;
    r.exit_code = code;
    r.monitor_pid = 0;
  }).IgnoreError();
  PublishEvent(id, "Warning", exit_reason, message);
}

void SandboxManager::AppendLastOutput(const std::string& rid, std::string* message) const {
  // A process that dies at start-up usually said why on its way out.
  if (std::string tail = ConsoleTail(d_.layout.console_log(rid)); !tail.empty()) {
    absl::StrAppend(message, "; last output: ", tail);
  }
}

void SandboxManager::FinishPendingRelease(const EntryPtr& e) {
  if (!e->release_pending) return;
  e->release_pending = false;
  WaitForMonitorEnd(e->runsc_id);
  ReleaseRuntime(e->runsc_id);
}

void SandboxManager::WaitForMonitorEnd(const std::string& rid) {
  int pid = MonitorPidOf(rid);
  if (pid <= 0) return;
  ProcessHandle monitor(pid);
  // It reaps the sandbox, records its exit and reaps the gofer (a few
  // seconds at most, monitor_process.cc); runsc delete needs the reap.
  if (!monitor.WaitForExit(std::chrono::seconds(10))) {
    spdlog::warn("sandbox {}: its monitor (pid {}) has not ended 10 s after the sandbox stopped; "
                 "releasing the container anyway", rid, pid);
  }
}

void SandboxManager::ReleaseRuntime(const std::string& rid) {
  auto st = d_.runsc->Delete(rid, /*force=*/true);
  if (!st.ok() && !absl::IsNotFound(st)) spdlog::warn("{}", st.ToString());
  st = d_.mounter->Unmount(d_.layout.rootfs(rid));
  if (!st.ok()) spdlog::warn("{}", st.ToString());
  if (int n = RemoveLeakedCgroups(d_.cgroup_root, rid); n > 0) {
    spdlog::debug("sandbox {}: removed {} leaked cgroup dir(s)", rid, n);
  }
}

absl::Status SandboxManager::RemoveSandboxFiles(const std::string& rid) {
  // First, so that a failing unmount below can never leave the token behind.
  RemoveTokenFile(d_.layout.sandbox_dir(rid)).IgnoreError();
  DisconnectNetwork(rid);
  for (const auto& m : d_.mounter->MountsUnder(d_.layout.sandbox_dir(rid))) {
    auto st = d_.mounter->Unmount(m);
    if (!st.ok()) return st;
  }
  if (auto st = RemoveTree(CheckpointRoot(rid)); !st.ok()) return st;
  return RemoveTree(d_.layout.sandbox_dir(rid));
}

// ---- delete --------------------------------------------------------------------

absl::StatusOr<bool> SandboxManager::Delete(const std::string& id, const std::string& name) {
  auto found = LookupForOperation(id, name);
  if (!found.ok()) {
    if (absl::IsNotFound(found.status())) return false;  // nothing was there
    return found.status();
  }
  EntryPtr e = *found;
  e->cancel = true;
  // Tell watchers at once, even while another operation finishes its step.
  auto st = Transition(e, [](SandboxRecord& r) { r.phase = phase::kDeleting; });
  if (!st.ok()) return st;

  std::lock_guard<std::mutex> op(e->op_mu);
  const std::string& rid = e->runsc_id;
  e->release_pending = false;  // done here, whatever a Stop left
  ReleaseRuntime(rid);
  st = RemoveSandboxFiles(rid);
  if (!st.ok()) return st;
  st = d_.store->Delete(e->id);
  if (!st.ok()) return st;
  {
    std::lock_guard<std::mutex> lock(mu_);
    entries_.erase(e->id);
    WatchEvent ev;
    ev.kind = WatchEvent::Kind::kDeleted;
    ev.sandbox_id = e->id;
    d_.events->Publish(ev);
  }
  spdlog::info("sandbox {} ({}): deleted", e->id, e->name);
  return true;
}

// ---- stop: checkpoint ------------------------------------------------------------

std::string SandboxManager::CheckpointBase() const {
  return d_.config.checkpoint_dir.empty() ? d_.layout.root + "/checkpoints"
                                          : d_.config.checkpoint_dir;
}

std::string SandboxManager::CheckpointRoot(const std::string& rid) const {
  return CheckpointBase() + "/" + rid;
}

absl::Status SandboxManager::Stop(const std::string& id, const std::string& name) {
  auto found = LookupForOperation(id, name);
  if (!found.ok()) return found.status();
  EntryPtr e = *found;
  // A second operation on the same sandbox waits for the first.
  std::lock_guard<std::mutex> op(e->op_mu);
  std::string p = Phase(e);
  if (p == phase::kStopped) return absl::OkStatus();  // idempotent
  if (p == phase::kRunning) return CheckpointLocked(e);
  std::string what = p == phase::kProvisioning ? "is still being created; stop it once it is ready"
                     : p == phase::kDeleting   ? "is being deleted"
                                               : "has exited; there is nothing to stop (delete it)";
  return absl::FailedPreconditionError(
      absl::StrCat("sandbox '", e->id, "' ", what, " (phase ", p, ")"));
}

bool SandboxManager::SandboxProcessAlive(const std::string& rid) {
  // After a failed or successful checkpoint runsc may still say "running"
  // until the monitor has reaped the sandbox process; give it a moment.
  auto deadline = Clock::now() + std::chrono::seconds(2);
  while (Clock::now() < deadline) {
    auto state = d_.runsc->State(rid);
    if (!state.ok() || !state->has_value()) return false;
    if ((*state)->status != "running" && (*state)->status != "created") return false;
    if ((*state)->pid <= 0 || kill((*state)->pid, 0) != 0) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

absl::Status SandboxManager::StopWithoutMemory(const EntryPtr& e, const std::string& why) {
  const std::string& rid = e->runsc_id;
  ReleaseRuntime(rid);
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
  const std::string& rid = e->runsc_id;
  const std::string root = CheckpointRoot(rid);
  if (auto st = MakeDirs(root, 0700); !st.ok()) return st;

  // A checkpoint that runs out of disk kills the sandbox (runsc.md §4):
  // refuse up front while it is still alive.
  uint64_t memory = SandboxMemoryBytes(d_.cgroup_root, rid).value_or(0);
  uint64_t needed = memory + memory / 8 + (16ull << 20);
  auto free = FreeBytes(root);
  if (!free.ok()) return free.status();
  if (*free < needed) {
    return absl::FailedPreconditionError(absl::StrCat(
        "not enough space to checkpoint sandbox '", id, "' into ", root, ": needs about ",
        MiB(needed), ", ", MiB(*free), " free; the sandbox keeps running"));
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
    Transition(e, [](SandboxRecord& r) {
      r.phase = phase::kRunning;
      r.message = "Sandbox is running (a checkpoint could not begin)";
    }).IgnoreError();
    return suffix.status();
  }
  std::string tmp = absl::StrCat(root, "/tmp-", *suffix);
  auto t0 = Clock::now();
  st = d_.runsc->Checkpoint(rid, tmp, compression, d_.config.checkpoint.timeout);
  int64_t duration = MsSince(t0);
  clock.Lap("runsc checkpoint");
  if (!st.ok()) {
    RemoveTree(tmp).IgnoreError();  // never leave a half-written image
    if (SandboxProcessAlive(rid)) {
      Transition(e, [](SandboxRecord& r) {
        r.phase = phase::kRunning;
        r.message = "Sandbox is running (a checkpoint failed)";
      }).IgnoreError();
      return absl::FailedPreconditionError(
          absl::StrCat("checkpoint of sandbox '", id, "' failed: ", st.message(),
                       "; the sandbox keeps running"));
    }
    return StopWithoutMemory(e, absl::StrCat("checkpoint failed: ", st.message()));
  }
  // The image is complete once runsc returns; the sandbox process is still
  // shutting down (tens of ms until its monitor reaps it). Stop does not
  // wait for that: the release below does (WaitForMonitorEnd).

  CheckpointImage image;
  image.compression = compression;
  image.created_at_ms = NowMs();
  image.duration_ms = duration;
  auto sealed = SealCheckpoint(tmp, root + "/image", image);
  clock.Lap("seal");
  if (!sealed.ok()) {
    RemoveTree(tmp).IgnoreError();
    return StopWithoutMemory(e, absl::StrCat("checkpoint could not be made durable: ",
                                             sealed.status().message()));
  }
  std::string message = absl::StrCat(why, why.empty() ? "" : "; ", "Memory checkpointed: ",
                                     MiB(sealed->bytes), " in ", duration, " ms (", compression, ")");
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
  // cleanup, left to a background task that waits for this operation's
  // lock; a Start or Delete that gets the lock first does it itself
  // (FinishPendingRelease), and a crash before either is handled by
  // recovery (a stopped record's container is released there).
  e->release_pending = true;
  RunInBackground([this, e] {
    std::lock_guard<std::mutex> op(e->op_mu);
    FinishPendingRelease(e);
  });
  spdlog::info("sandbox {}: {}", id, message);
  PublishEvent(id, "Normal", reason::kCheckpointed, message,
               {{"openshell.gvisor.checkpoint_bytes", std::to_string(sealed->bytes)},
                {"openshell.gvisor.checkpoint_ms", std::to_string(duration)},
                {"openshell.gvisor.compression", compression}});
  return absl::OkStatus();
}

// ---- start: restore ----------------------------------------------------------------

absl::Status SandboxManager::Start(const std::string& id, const std::string& name) {
  auto found = LookupForOperation(id, name);
  if (!found.ok()) return found.status();
  EntryPtr e = *found;
  std::lock_guard<std::mutex> op(e->op_mu);
  std::string p = Phase(e);
  // Already running or still coming up: the gateway's startup sweep sends
  // Start for those too, and expects OK.
  if (p == phase::kRunning || p == phase::kProvisioning) return absl::OkStatus();
  if (p == phase::kStopped) return StartLocked(e);
  std::string what = p == phase::kDeleting ? "is being deleted"
                                           : "has exited; its main process is not restarted "
                                             "(delete it and create a new one)";
  return absl::FailedPreconditionError(
      absl::StrCat("sandbox '", e->id, "' ", what, " (phase ", p, ")"));
}

absl::Status SandboxManager::StartLocked(const EntryPtr& e) {
  StepClock clock;
  FinishPendingRelease(e);  // runsc refuses to restore onto a live record
  clock.Lap("pending release");
  const std::string& id = e->id;
  const std::string& rid = e->runsc_id;
  // Only this operation (op_mu) changes the record from here on.
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

  auto hint = d_.config.checkpoint.token_ttl_hint;
  int64_t age_ms = NowMs() - stopped.created_at_ms;
  if (hint.count() > 0 && age_ms > hint.count()) {
    // The gateway's token reached the sandbox once, at create (contract
    // §6.10); a supervisor restored after its expiry cannot reconnect.
    std::string warning = absl::StrCat(
        "sandbox was created ", age_ms / 1000, " s ago, beyond checkpoint.token_ttl_hint (",
        hint.count() / 1000, " s): if the gateway's JWT ttl_secs is shorter, its supervisor "
        "cannot authenticate again after this start");
    spdlog::warn("sandbox {}: {}", id, warning);
    PublishEvent(id, "Warning", "TokenMayBeExpired", warning);
  }

  auto request = DecodeRequest(stopped.spec_json);
  if (!request.ok()) {
    Transition(e, [](SandboxRecord& r) { r.phase = phase::kStopped; }).IgnoreError();
    return request.status();
  }
  // The bundle is rewritten only when it is missing (an imported sandbox).
  bool have_bundle = std::filesystem::exists(d_.layout.bundle(rid) + "/config.json");
  auto net = ConnectNetwork(e, have_bundle ? !BundleNetnsPath(rid).empty() : WantsNetwork(*request));
  // The digest it ran on, not whatever the tag names today.
  auto rootfs_image = PrepareImage(*request, stopped.image_digest);
  st = !net.ok()            ? net.status()
       : rootfs_image.ok() ? PrepareRootfs(e, *request, *rootfs_image, !have_bundle,
                                           net->has_value() ? &**net : nullptr)
                           : rootfs_image.status();
  if (!st.ok()) {
    Transition(e, [](SandboxRecord& r) { r.phase = phase::kStopped; }).IgnoreError();
    return absl::FailedPreconditionError(
        absl::StrCat("cannot start sandbox '", id, "': ", st.message()));
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
      RunInBackground([this, e, dir = image->dir] { RemoveStaleCheckpoint(e, dir); });
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
    if (net->has_value()) ConnectNetwork(e, true).IgnoreError();
    cold_reason = absl::StrCat("restoring its checkpoint failed (", handle.status().message(), ")");
  }

  std::string message = absl::StrCat("Sandbox booted cold: ", cold_reason,
                                     "; its files were kept, its memory was not");
  spdlog::warn("sandbox {}: {}", id, message);
  auto handle = Launch(e, "", message, nullptr, new_digest);
  if (!handle.ok()) {
    ReleaseRuntime(rid);
    Transition(e, [](SandboxRecord& r) { r.phase = phase::kStopped; }).IgnoreError();
    return absl::InternalError(
        absl::StrCat("cannot start sandbox '", id, "': ", handle.status().message()));
  }
  // Whatever image there was (verified, corrupt or unrestorable) is stale
  // now that the sandbox runs again; Launch dropped it from the record.
  RemoveTree(CheckpointRoot(rid) + "/image").IgnoreError();
  PublishEvent(id, "Warning", "ColdStart", message,
               {{cold_start::kMetadataKey,
                 cold_start::ReasonFor(!stopped.checkpoint_json.empty(), image.has_value())}});
  return absl::OkStatus();
}

void SandboxManager::RemoveStaleCheckpoint(const EntryPtr& e, const std::string& dir) {
  std::lock_guard<std::mutex> op(e->op_mu);
  {
    // A Stop that got the lock first has sealed a new image in its place.
    std::lock_guard<std::mutex> lock(mu_);
    if (!e->record.checkpoint_json.empty() || e->record.phase == phase::kDeleting) return;
  }
  RemoveTree(dir).IgnoreError();
}

// ---- idle suspend ------------------------------------------------------------------

void SandboxManager::StartIdleSuspend() {
  if (d_.config.checkpoint.idle_suspend_after.count() <= 0) return;
  spdlog::info("idle suspend: sandboxes idle for {} s are checkpointed",
               d_.config.checkpoint.idle_suspend_after.count() / 1000);
  RunInBackground([this] { IdleSuspendLoop(); });
}

void SandboxManager::IdleSuspendLoop() {
  using std::chrono::milliseconds;
  const milliseconds idle_after = d_.config.checkpoint.idle_suspend_after;
  const milliseconds tick = std::clamp(idle_after / 4, milliseconds(500), milliseconds(30000));
  // "Idle" = the cgroup used under 5% of one core during a tick. An idle
  // sandbox is not at zero: the systrap sentry's own timers cost about
  // 2.5% of a core here (measured: ~25 ms of CPU per second, busybox sleep).
  const uint64_t busy_ns = static_cast<uint64_t>(tick.count()) * 1000000 * 5 / 100;
  struct Seen {
    uint64_t cpu = 0;
    Clock::time_point idle_since;
  };
  std::map<std::string, Seen> seen;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(tasks_mu_);
      if (shutdown_cv_.wait_for(lock, tick, [this] { return shutting_down_.load(); })) return;
    }
    std::vector<EntryPtr> running;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [id, e] : entries_) {
        if (e->record.phase == phase::kRunning) running.push_back(e);
      }
    }
    std::map<std::string, Seen> next;
    auto now = Clock::now();
    for (const auto& e : running) {
      auto cpu = SandboxCpuNanos(d_.cgroup_root, e->runsc_id);
      if (!cpu) continue;
      auto it = seen.find(e->id);
      Seen s{*cpu, now};
      if (it != seen.end() && *cpu - it->second.cpu < busy_ns) s.idle_since = it->second.idle_since;
      next[e->id] = s;
      if (now - s.idle_since >= idle_after) {
        s.idle_since = now;  // do not ask twice while the checkpoint runs
        next[e->id] = s;
        RunInBackground([this, e] { SuspendIfIdle(e); });
      }
    }
    seen.swap(next);
  }
}

void SandboxManager::SuspendIfIdle(const EntryPtr& e) {
  // A sandbox busy with another operation is simply not idle.
  std::unique_lock<std::mutex> op(e->op_mu, std::try_to_lock);
  if (!op.owns_lock() || shutting_down_ || Phase(e) != phase::kRunning) return;
  std::string why = absl::StrCat("Suspended by the driver after ",
                                 d_.config.checkpoint.idle_suspend_after.count() / 1000,
                                 " s without CPU use");
  spdlog::info("sandbox {}: idle; checkpointing it", e->id);
  auto st = CheckpointLocked(e, why);
  if (!st.ok()) spdlog::warn("sandbox {}: idle suspend failed: {}", e->id, st.ToString());
}

// ---- recovery ------------------------------------------------------------------

absl::Status SandboxManager::Recover() {
  auto records = d_.store->List();
  if (!records.ok()) return records.status();
  auto listed = d_.runsc->List();
  if (!listed.ok()) return listed.status();
  std::map<std::string, ContainerState> containers;
  for (const auto& c : *listed) containers[c.id] = c;

  std::vector<EntryPtr> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& r : *records) {
      auto e = std::make_shared<Entry>(r);
      entries_[r.id] = e;
      all.push_back(e);
    }
  }
  std::vector<SandboxRequest> reprovision;
  for (const auto& e : all) RecoverRecord(e, containers, &reprovision);
  RemoveOrphans(containers);
  RemoveOrphanNetworks();
  d_.images->CleanStaging();

  for (auto& request : reprovision) {
    EntryPtr e;
    {
      std::lock_guard<std::mutex> lock(mu_);
      e = entries_[request.id];
    }
    RunInBackground([this, e, request = std::move(request)]() mutable {
      Provision(e, std::move(request));
    });
  }
  spdlog::info("recovery: {} sandbox record(s), {} to re-provision", all.size(),
               reprovision.size());
  return absl::OkStatus();
}

int SandboxManager::MonitorPidOf(const std::string& rid) const {
  auto text = ReadFile(d_.layout.sandbox_dir(rid) + "/monitor.pid");
  int pid = 0;
  if (!text.ok() || !absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &pid) || pid <= 0) return 0;
  // Only a live process that is our monitor for this very sandbox counts.
  return IsMonitorOf(pid, d_.layout.sandbox_dir(rid)) ? pid : 0;
}

bool SandboxManager::WaitForInterruptedLaunch(const std::string& rid, int* sandbox_pid) {
  auto deadline = Clock::now() + d_.config.runsc.timeout * 3;
  while (MonitorPidOf(rid) > 0 && Clock::now() < deadline) {
    auto state = d_.runsc->State(rid);
    if (state.ok() && state->has_value() && (*state)->status == "running" && (*state)->pid > 0) {
      *sandbox_pid = (*state)->pid;
      spdlog::info("recovery: sandbox {}: its launch finished after the restart", rid);
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

bool SandboxManager::WaitForInterruptedCheckpoint(const std::string& root, int sandbox_pid) {
  // Settled = the sandbox exited (the save finished, well or not), or its
  // temporary image has not grown for 3 s while it still runs.
  auto size_of_temporaries = [&root] {
    uint64_t total = 0;
    std::error_code ec;
    for (const auto& f : std::filesystem::recursive_directory_iterator(root, ec)) {
      if (f.is_regular_file(ec) && f.path().string().find("/tmp-") != std::string::npos) {
        total += f.file_size(ec);
      }
    }
    return total;
  };
  auto deadline = Clock::now() + d_.config.checkpoint.timeout;
  uint64_t last = size_of_temporaries();
  auto last_change = Clock::now();
  while (Clock::now() < deadline) {
    // The sandbox process exits right after a finished save.
    if (sandbox_pid <= 0 || kill(sandbox_pid, 0) != 0) return true;
    uint64_t now = size_of_temporaries();
    if (now != last) {
      last = now;
      last_change = Clock::now();
    } else if (Clock::now() - last_change > std::chrono::seconds(3)) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

absl::StatusOr<CheckpointImage> SandboxManager::SealInterruptedCheckpoint(const std::string& rid,
                                                                          const std::string& root) {
  // Trust the image only when the sandbox ended the way a successful save
  // ends it (exit 0, recorded by its monitor); anything else is a failure.
  auto exit = ReadExitRecord(d_.layout.exit_file(rid));
  if (!exit.ok() || !exit->has_value() || (*exit)->exit_code != 0) {
    return absl::FailedPreconditionError("the interrupted checkpoint did not finish cleanly");
  }
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(root, ec)) {
    if (entry.path().filename().string().rfind("tmp-", 0) != 0) continue;
    CheckpointImage image;
    image.compression = "unknown";
    image.created_at_ms = NowMs();
    return SealCheckpoint(entry.path().string(), root + "/image", image);
  }
  return absl::NotFoundError("no interrupted checkpoint image");
}

void SandboxManager::Adopt(const EntryPtr& e, int sandbox_pid) {
  const SandboxRecord r = Record(e);
  // Prefer the monitor (it will record the exit code); if it is gone,
  // watch the sandbox process itself.
  int monitor = MonitorPidOf(r.runsc_id);
  if (monitor <= 0 && r.monitor_pid > 0 && kill(static_cast<pid_t>(r.monitor_pid), 0) == 0) {
    monitor = static_cast<int>(r.monitor_pid);
  }
  bool monitor_alive = monitor > 0;
  int pid = monitor_alive ? monitor : sandbox_pid;
  if (monitor_alive && monitor != r.monitor_pid) {
    Transition(e, [&](SandboxRecord& rec) { rec.monitor_pid = monitor; }).IgnoreError();
  }
  spdlog::info("recovery: sandbox {}: re-adopted running container {} (watching {} {})", r.id,
               r.runsc_id, monitor_alive ? "monitor" : "sandbox", pid);
  WatchExit(e, pid);
}

void SandboxManager::FinishRecoveredStop(const EntryPtr& e, const CheckpointImage& image) {
  ReleaseRuntime(e->runsc_id);
  std::string message = absl::StrCat("Memory checkpointed: ", MiB(image.bytes),
                                     " (finished after a driver restart)");
  Transition(e, [&](SandboxRecord& r) {
    r.phase = phase::kStopped;
    r.reason = reason::kCheckpointed;
    r.message = message;
    r.checkpoint_json = CheckpointToJson(image);
    r.monitor_pid = 0;
  }).IgnoreError();
  spdlog::info("recovery: sandbox {}: {}", e->id, message);
}

void SandboxManager::RecoverStopping(const EntryPtr& e, bool alive, int sandbox_pid) {
  const std::string& rid = e->runsc_id;
  const std::string root = CheckpointRoot(rid);
  // Whatever happens below, no unsealed temporary survives it.
  struct DropTemporaries {
    std::string root;
    ~DropTemporaries() {
      std::error_code ec;
      for (const auto& entry : std::filesystem::directory_iterator(root, ec)) {
        if (entry.path().filename().string().rfind("tmp-", 0) == 0) {
          RemoveTree(entry.path().string()).IgnoreError();
        }
      }
    }
  } drop_temporaries{root};
  // The image was sealed (renamed into place) before the crash: finish.
  auto manifest = ReadManifest(root + "/image");
  if (manifest.ok() && manifest->created_at_ms >= Record(e).updated_at_ms &&
      VerifyCheckpoint(*manifest).ok()) {
    FinishRecoveredStop(e, *manifest);
    return;
  }
  if (alive) {
    // The `runsc checkpoint` we started may still be saving (the sandbox,
    // not the CLI we lost, does the work). Wait for it to settle.
    alive = !WaitForInterruptedCheckpoint(root, sandbox_pid);
    auto sealed = alive ? absl::StatusOr<CheckpointImage>(absl::NotFoundError(""))
                        : SealInterruptedCheckpoint(rid, root);
    if (sealed.ok()) {
      FinishRecoveredStop(e, *sealed);
      return;
    }
  }
  if (alive) {
    // The checkpoint never completed and the sandbox still runs: roll back.
    Transition(e, [](SandboxRecord& r) {
      r.phase = phase::kRunning;
      r.message = "Sandbox is running (a checkpoint was interrupted)";
    }).IgnoreError();
    Adopt(e, sandbox_pid);
    return;
  }
  StopWithoutMemory(e, "the driver stopped during a checkpoint").IgnoreError();
}

void SandboxManager::RecoverRecord(const EntryPtr& e,
                                   const std::map<std::string, ContainerState>& containers,
                                   std::vector<SandboxRequest>* reprovision) {
  const SandboxRecord r = Record(e);
  const std::string& rid = r.runsc_id;
  auto c = containers.find(rid);
  // Only "running" counts: a container left "created" by a launch that
  // never reached `runsc start` would never run its main process.
  bool alive = c != containers.end() && c->second.status == "running" && c->second.pid > 0 &&
               kill(c->second.pid, 0) == 0;
  int sandbox_pid = c != containers.end() ? c->second.pid : 0;

  if (r.phase == phase::kDeleting) {
    spdlog::info("recovery: sandbox {}: finishing an interrupted delete", r.id);
    Delete(r.id, "").IgnoreError();
    return;
  }
  if (r.phase == phase::kProvisioning || r.phase == phase::kStarting) {
    // A monitor we started just before the crash may still be creating or
    // restoring the container: let it finish before judging what is there.
    if (!alive && WaitForInterruptedLaunch(rid, &sandbox_pid)) alive = true;
  }
  if (r.phase == phase::kProvisioning && alive) {
    // It came up after all: nothing to redo.
    Transition(e, [&](SandboxRecord& rec) {
      rec.phase = phase::kRunning;
      rec.reason = reason::kBackendReady;
      rec.message = "Sandbox is running (started before a driver restart)";
    }).IgnoreError();
    Adopt(e, sandbox_pid);
    return;
  }
  if (r.phase == phase::kProvisioning) {
    // Provisioning was cut short: throw away the half-built runtime and do
    // it again; the gateway is still waiting for this sandbox.
    spdlog::info("recovery: sandbox {}: provisioning was interrupted; restarting it", r.id);
    ReleaseRuntime(rid);
    auto request = DecodeRequest(r.spec_json);
    if (!request.ok()) {
      Fail(e, reason::kContainerCreateFailed,
           absl::StrCat("stored request unreadable: ", request.status().message()));
      return;
    }
    reprovision->push_back(*request);
    return;
  }
  if (r.phase == phase::kStopping) {
    RecoverStopping(e, alive, sandbox_pid);
    return;
  }
  if (r.phase == phase::kStarting) {
    if (alive) {
      // The restore (or cold start) went through before the crash; the
      // image it came from is stale (Launch's own rule).
      Transition(e, [](SandboxRecord& rec) {
        rec.phase = phase::kRunning;
        rec.reason = reason::kBackendReady;
        rec.message = "Sandbox is running (started before a driver restart)";
        rec.checkpoint_json.clear();
      }).IgnoreError();
      Adopt(e, sandbox_pid);
    } else {
      // Roll back to stopped; the image (if any) is untouched until a
      // start succeeds, so Start can simply be retried.
      ReleaseRuntime(rid);
      Transition(e, [](SandboxRecord& rec) {
        rec.phase = phase::kStopped;
        rec.message = "A start was interrupted by a driver restart; the sandbox is stopped "
                      "and its checkpoint (if any) is kept";
      }).IgnoreError();
      spdlog::info("recovery: sandbox {}: an interrupted start was rolled back to stopped", r.id);
    }
    return;
  }
  if (r.phase == phase::kStopped) {
    // A crash right after a Stop can leave its monitor still reaping.
    WaitForMonitorEnd(rid);
    if (c != containers.end()) ReleaseRuntime(rid);
    return;
  }
  if (r.phase != phase::kRunning) return;  // exited / failed: terminal, kept

  auto exit = ReadExitRecord(d_.layout.exit_file(rid));
  if (exit.ok() && exit->has_value()) {
    // It ended while we were away; the monitor kept the code for us.
    std::string message = absl::StrCat(DescribeExit((*exit)->exit_code), " while the driver was down");
    AppendLastOutput(rid, &message);
    ReleaseRuntime(rid);
    Transition(e, [&](SandboxRecord& rec) {
      rec.phase = phase::kExited;
      rec.reason = reason::kProcessExited;
      rec.message = message;
      rec.exit_code = (*exit)->exit_code;
      rec.monitor_pid = 0;
    }).IgnoreError();
    spdlog::info("recovery: sandbox {}: {}", r.id, message);
    return;
  }
  if (alive) {
    Adopt(e, sandbox_pid);
    return;
  }
  std::string message =
      c == containers.end()
          ? "the sandbox's runsc container disappeared while the driver was down (host reboot?)"
          : absl::StrCat("the sandbox stopped while the driver was down (state ",
                         c->second.status, "); its exit code is unknown");
  ReleaseRuntime(rid);
  Fail(e, c == containers.end() ? reason::kSandboxLost : reason::kProcessExited, message);
}

}  // namespace osgv
