#include "lifecycle/sandbox_manager.h"

#include <openssl/rand.h>
#include <signal.h>
#include <sys/stat.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "lifecycle/bundle/oci_spec.h"
#include "lifecycle/fs_util.h"
#include "lifecycle/progress.h"
#include "lifecycle/sandbox_status.h"
#include "lifecycle/spec_codec.h"
#include "lifecycle/store/record_lookup.h"

namespace osgv {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string ImageFieldError(const absl::Status& s) {
  return std::string(s.message());
}

}  // namespace

std::string NewRunscId() {
  unsigned char bytes[16];
  RAND_bytes(bytes, sizeof bytes);
  return "osgv-" + absl::BytesToHexString(
                       absl::string_view(reinterpret_cast<char*>(bytes), sizeof bytes));
}

SandboxManager::SandboxManager(ManagerDeps deps) : d_(std::move(deps)) {}

SandboxManager::~SandboxManager() { Shutdown(); }

void SandboxManager::Shutdown() {
  shutting_down_ = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, e] : entries_) e->cancel = true;
  }
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(threads_mu_);
    threads.swap(threads_);
  }
  for (auto& t : threads) {
    if (t.joinable()) t.join();
  }
}

// ---- queries ---------------------------------------------------------------

std::shared_ptr<SandboxManager::Entry> SandboxManager::Lookup(const std::string& id,
                                                              const std::string& name) const {
  if (!id.empty()) {
    auto it = entries_.find(id);
    return it == entries_.end() ? nullptr : it->second;
  }
  for (const auto& [eid, e] : entries_) {
    if (e->record.name == name) return e;
  }
  return nullptr;
}

absl::StatusOr<SandboxSnapshot> SandboxManager::Get(const std::string& id,
                                                    const std::string& name) const {
  if (id.empty() && name.empty()) {
    return absl::InvalidArgumentError("sandbox_id: required (or sandbox_name)");
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto e = Lookup(id, name);
  if (!e) return absl::NotFoundError(absl::StrCat("sandbox '", id.empty() ? name : id, "' not found"));
  return SnapshotOf(e->record);
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

absl::Status SandboxManager::Transition(const std::shared_ptr<Entry>& e,
                                        const std::function<void(SandboxRecord&)>& mutate) {
  std::lock_guard<std::mutex> lock(mu_);
  SandboxRecord next = e->record;
  std::string old_phase = next.phase;
  mutate(next);
  if (next.phase != old_phase) next.updated_at_ms = NowMs();
  next.generation++;
  auto st = d_.store->Update(next);
  if (!st.ok()) {
    spdlog::error("sandbox {}: cannot persist phase {}: {}", next.id, next.phase, st.ToString());
    return st;
  }
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

void SandboxManager::Fail(const std::shared_ptr<Entry>& e, const std::string& reason,
                          const std::string& message) {
  spdlog::warn("sandbox {}: {}: {}", e->record.id, reason, message);
  Transition(e, [&](SandboxRecord& r) {
    r.phase = phase::kFailed;
    r.reason = reason;
    r.message = message;
    r.monitor_pid = 0;
  }).IgnoreError();
  PublishEvent(e->record.id, "Warning", reason, message);
}

// ---- create ------------------------------------------------------------------

absl::Status SandboxManager::Validate(const SandboxRequest& request) const {
  auto v = ValidateSandboxRequest(request, d_.config);
  if (!v.ok()) return v.status();
  std::string image = request.spec.tmpl.image.empty() ? d_.config.default_image
                                                      : request.spec.tmpl.image;
  auto ref = ParseImageReference(image);
  if (!ref.ok()) {
    return absl::Status(ref.status().code(),
                        absl::StrCat("sandbox.spec.template.image: ", ImageFieldError(ref.status())));
  }
  return absl::OkStatus();
}

absl::Status SandboxManager::Create(const SandboxRequest& in) {
  if (shutting_down_) return absl::UnavailableError("driver is shutting down");
  auto st = Validate(in);
  if (!st.ok()) return st;
  SandboxRequest request = in;
  if (request.spec.tmpl.image.empty()) request.spec.tmpl.image = d_.config.default_image;

  std::shared_ptr<Entry> e = std::make_shared<Entry>();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (entries_.count(request.id)) {
      return absl::AlreadyExistsError(
          absl::StrCat("sandbox.id: a sandbox with id '", request.id, "' already exists"));
    }
    for (const auto& [id, other] : entries_) {
      if (other->record.name == request.name && other->record.workspace == request.workspace) {
        return absl::AlreadyExistsError(absl::StrCat("sandbox.name: a sandbox named '",
                                                     request.name, "' already exists in workspace '",
                                                     request.workspace, "'"));
      }
    }
    SandboxRecord& r = e->record;
    r.id = request.id;
    r.name = request.name;
    r.namespace_name = request.namespace_name;
    r.workspace = request.workspace;
    r.runsc_id = NewRunscId();
    r.image_ref = request.spec.tmpl.image;
    r.phase = phase::kProvisioning;
    r.reason = reason::kStarting;
    r.message = "Sandbox accepted; preparing image";
    r.spec_json = EncodeRequest(request);
    r.created_at_ms = r.updated_at_ms = NowMs();
    // Durable before we say yes: a crash from here on is recovered.
    st = d_.store->Insert(r);
    if (!st.ok()) return st;
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
  StartProvisioning(e, std::move(request));
  return absl::OkStatus();
}

void SandboxManager::StartProvisioning(const std::shared_ptr<Entry>& e, SandboxRequest request) {
  std::lock_guard<std::mutex> lock(threads_mu_);
  // Joined threads are cheap to keep; prune the finished ones now and then.
  threads_.emplace_back([this, e, request = std::move(request)]() mutable {
    Provision(e, std::move(request));
  });
}

void SandboxManager::Provision(const std::shared_ptr<Entry>& e, SandboxRequest request) {
  std::lock_guard<std::mutex> op(e->op_mu);
  if (e->cancel) return;
  std::string reason;
  auto st = ProvisionSteps(e, request, &reason);
  if (st.ok()) return;
  if (e->cancel) {
    // Deleted (or shutting down) while provisioning: the delete cleans up;
    // at shutdown the record stays "provisioning" and recovery redoes it.
    ReleaseRuntime(e->record.runsc_id);
    return;
  }
  ReleaseRuntime(e->record.runsc_id);
  Fail(e, reason, std::string(st.message()));
}

absl::Status SandboxManager::ProvisionSteps(const std::shared_ptr<Entry>& e,
                                            const SandboxRequest& request,
                                            std::string* failure_reason) {
  const std::string id = request.id;
  const std::string rid = e->record.runsc_id;
  const auto& L = d_.layout;

  *failure_reason = reason::kImagePullFailed;
  auto image = d_.images->Prepare(request.spec.tmpl.image, [&](const ImageProgress& p) {
    PublishEvent(id, "Normal", "PullingLayer",
                 absl::StrCat("Unpacked layer ", p.layers_done, "/", p.layers_total),
                 progress::Active(progress::kPullingImage,
                                  absl::StrCat(p.layers_done, "/", p.layers_total, " layers, ",
                                               p.bytes_done, "/", p.bytes_total, " bytes")));
  });
  if (!image.ok()) return image.status();  // its message names the image
  if (e->cancel) return absl::CancelledError("deleted");
  PublishEvent(id, "Normal", "Pulled", absl::StrCat("Image ", image->manifest_digest, " ready"),
               progress::Step(progress::kPullingImage, "Image ready", progress::kStartingSandbox, ""));
  auto st = Transition(e, [&](SandboxRecord& r) {
    r.image_digest = image->manifest_digest;
    r.message = "Image ready; starting sandbox";
  });
  if (!st.ok()) return st;

  *failure_reason = reason::kContainerCreateFailed;
  auto validated = ValidateSandboxRequest(request, d_.config);
  if (!validated.ok()) return validated.status();
  auto user = ResolveImageUser(image->config.user, image->rootfs_dir);
  if (!user.ok()) return user.status();
  SpecInputs in;
  in.request = &request;
  in.image = &image->config;
  in.user = *user;
  in.cgroups_path = absl::StrCat("/openshell-gvisor/", rid);
  in.memory_limit_bytes = validated->memory_limit_bytes;
  in.cpu_limit_millis = validated->cpu_limit_millis;
  in.pids_limit = validated->pids_limit;
  auto spec = BuildRuntimeSpec(in);
  if (!spec.ok()) return spec.status();

  for (const auto& dir : {L.sandbox_dir(rid), L.upper(rid), L.work(rid), L.rootfs(rid)}) {
    st = MakeDirs(dir, 0700);
    if (!st.ok()) return st;
  }
  // The bundle dir must be traversable by the sandbox's unprivileged host
  // processes; the sandbox dir above it stays private to root.
  chmod(L.bundle(rid).c_str(), 0711);
  chmod(L.rootfs(rid).c_str(), 0755);
  st = WriteFileAtomic(L.bundle(rid) + "/config.json", spec->dump(2), 0600);
  if (!st.ok()) return st;
  if (!d_.mounter->IsMounted(L.rootfs(rid))) {
    st = d_.mounter->MountOverlay(image->rootfs_dir, L.upper(rid), L.work(rid), L.rootfs(rid));
    if (!st.ok()) return st;
  }
  if (e->cancel) return absl::CancelledError("deleted");

  *failure_reason = reason::kContainerStartFailed;
  MonitorSpec ms;
  ms.runsc = d_.runsc->options();
  ms.runsc_flags = d_.runsc->features().flags;
  ms.container_id = rid;
  ms.bundle = L.bundle(rid);
  ms.console_log = L.console_log(rid);
  ms.exit_file = L.exit_file(rid);
  ms.log_file = L.monitor_log(rid);
  auto handle = d_.monitors->Launch(ms, L.monitor_spec(rid));
  if (!handle.ok()) {
    if (absl::IsFailedPrecondition(handle.status())) *failure_reason = reason::kContainerCreateFailed;
    return handle.status();
  }
  st = Transition(e, [&](SandboxRecord& r) {
    r.phase = phase::kRunning;
    r.reason = reason::kBackendReady;
    r.message = "Sandbox is running";
    r.monitor_pid = handle->monitor_pid;
  });
  if (!st.ok()) return st;
  spdlog::info("sandbox {} ({}): running as {} (sandbox pid {}, monitor pid {})", id,
               request.name, rid, handle->sandbox_pid, handle->monitor_pid);
  PublishEvent(id, "Normal", "Started", "Sandbox started",
               progress::Active(progress::kStartingSandbox, "Sandbox started"));
  WatchExit(e, handle->monitor_pid);
  return absl::OkStatus();
}

// ---- exit --------------------------------------------------------------------

void SandboxManager::WatchExit(const std::shared_ptr<Entry>& e, int pid) {
  std::string id = e->record.id;
  d_.exits->Watch(pid, [this, id] { OnMonitorExit(id); });
}

void SandboxManager::OnMonitorExit(const std::string& id) {
  std::shared_ptr<Entry> e;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return;
    e = it->second;
  }
  if (shutting_down_) return;
  std::lock_guard<std::mutex> op(e->op_mu);
  std::string rid;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (e->record.phase != phase::kRunning) return;  // deleting, or already handled
    rid = e->record.runsc_id;
  }
  auto exit = ReadExitRecord(d_.layout.exit_file(rid));
  std::optional<int> code;
  std::string message;
  if (exit.ok() && exit->has_value()) {
    code = (*exit)->exit_code;
    message = DescribeExit(*code);
  } else {
    message = "main process exited; its exit code was lost (the sandbox monitor ended first)";
  }
  ReleaseRuntime(rid);
  spdlog::info("sandbox {}: {}", id, message);
  Transition(e, [&](SandboxRecord& r) {
    r.phase = phase::kExited;
    r.reason = reason::kProcessExited;
    r.message = message;
    r.exit_code = code;
    r.monitor_pid = 0;
  }).IgnoreError();
  PublishEvent(id, "Warning", reason::kProcessExited, message);
}

void SandboxManager::ReleaseRuntime(const std::string& rid) {
  auto st = d_.runsc->Delete(rid, /*force=*/true);
  if (!st.ok() && !absl::IsNotFound(st)) spdlog::warn("{}", st.ToString());
  st = d_.mounter->Unmount(d_.layout.rootfs(rid));
  if (!st.ok()) spdlog::warn("{}", st.ToString());
}

absl::Status SandboxManager::RemoveSandboxFiles(const std::string& rid) {
  for (const auto& m : d_.mounter->MountsUnder(d_.layout.sandbox_dir(rid))) {
    auto st = d_.mounter->Unmount(m);
    if (!st.ok()) return st;
  }
  return RemoveTree(d_.layout.sandbox_dir(rid));
}

// ---- delete / stop / start -----------------------------------------------------

absl::StatusOr<bool> SandboxManager::Delete(const std::string& id, const std::string& name) {
  if (id.empty() && name.empty()) {
    return absl::InvalidArgumentError("sandbox_id: required (or sandbox_name)");
  }
  std::shared_ptr<Entry> e;
  {
    std::lock_guard<std::mutex> lock(mu_);
    e = Lookup(id, name);
  }
  if (!e) return false;
  e->cancel = true;
  // Tell watchers at once, even while provisioning finishes its step.
  auto st = Transition(e, [](SandboxRecord& r) { r.phase = phase::kDeleting; });
  if (!st.ok()) return st;

  std::lock_guard<std::mutex> op(e->op_mu);
  std::string rid = e->record.runsc_id;
  ReleaseRuntime(rid);
  st = RemoveSandboxFiles(rid);
  if (!st.ok()) return st;
  st = d_.store->Delete(e->record.id);
  if (!st.ok()) return st;
  {
    std::lock_guard<std::mutex> lock(mu_);
    entries_.erase(e->record.id);
    WatchEvent ev;
    ev.kind = WatchEvent::Kind::kDeleted;
    ev.sandbox_id = e->record.id;
    d_.events->Publish(ev);
  }
  spdlog::info("sandbox {} ({}): deleted", e->record.id, e->record.name);
  return true;
}

absl::Status SandboxManager::Stop(const std::string& id, const std::string& name) {
  return absl::UnimplementedError(
      "StopSandbox: checkpoint/restore is not implemented in this driver version");
}

absl::Status SandboxManager::Start(const std::string& id, const std::string& name) {
  return absl::UnimplementedError(
      "StartSandbox: checkpoint/restore is not implemented in this driver version");
}

// ---- recovery ------------------------------------------------------------------

absl::Status SandboxManager::Recover() {
  auto records = d_.store->List();
  if (!records.ok()) return records.status();
  auto listed = d_.runsc->List();
  if (!listed.ok()) return listed.status();
  std::map<std::string, ContainerState> containers;
  for (const auto& c : *listed) containers[c.id] = c;

  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& r : *records) {
      auto e = std::make_shared<Entry>();
      e->record = r;
      entries_[r.id] = e;
    }
  }
  std::vector<std::shared_ptr<Entry>> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, e] : entries_) all.push_back(e);
  }
  std::vector<SandboxRequest> reprovision;
  for (const auto& e : all) RecoverRecord(e, containers, &reprovision);
  RemoveOrphans(containers);
  d_.images->CleanStaging();

  for (auto& request : reprovision) {
    std::shared_ptr<Entry> e;
    {
      std::lock_guard<std::mutex> lock(mu_);
      e = entries_[request.id];
    }
    StartProvisioning(e, std::move(request));
  }
  spdlog::info("recovery: {} sandbox record(s), {} to re-provision", all.size(),
               reprovision.size());
  return absl::OkStatus();
}

void SandboxManager::RecoverRecord(const std::shared_ptr<Entry>& e,
                                   const std::map<std::string, ContainerState>& containers,
                                   std::vector<SandboxRequest>* reprovision) {
  SandboxRecord r = e->record;
  const std::string& rid = r.runsc_id;
  auto c = containers.find(rid);
  bool alive = c != containers.end() &&
               (c->second.status == "running" || c->second.status == "created");

  if (r.phase == phase::kDeleting) {
    spdlog::info("recovery: sandbox {}: finishing an interrupted delete", r.id);
    Delete(r.id, "").IgnoreError();
    return;
  }
  if (r.phase == phase::kProvisioning) {
    // Provisioning was cut short: throw away the half-built runtime and do
    // it again; the gateway is still waiting for this sandbox.
    spdlog::info("recovery: sandbox {}: provisioning was interrupted; restarting it", r.id);
    ReleaseRuntime(rid);
    RemoveTree(d_.layout.exit_file(rid)).IgnoreError();
    auto request = DecodeRequest(r.spec_json);
    if (!request.ok()) {
      Fail(e, reason::kContainerCreateFailed,
           absl::StrCat("stored request unreadable: ", request.status().message()));
      return;
    }
    reprovision->push_back(*request);
    return;
  }
  if (r.phase != phase::kRunning) return;  // exited / failed: terminal, kept

  auto exit = ReadExitRecord(d_.layout.exit_file(rid));
  if (exit.ok() && exit->has_value()) {
    // It ended while we were away; the monitor kept the code for us.
    std::string message = absl::StrCat(DescribeExit((*exit)->exit_code), " while the driver was down");
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
    // Re-adopt without touching it. Prefer the monitor (it will record the
    // exit code); if it is gone, watch the sandbox process itself.
    bool monitor_alive = r.monitor_pid > 0 && kill(static_cast<pid_t>(r.monitor_pid), 0) == 0;
    int pid = monitor_alive ? static_cast<int>(r.monitor_pid) : c->second.pid;
    spdlog::info("recovery: sandbox {}: re-adopted running container {} (watching {} {})", r.id,
                 rid, monitor_alive ? "monitor" : "sandbox", pid);
    WatchExit(e, pid);
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

void SandboxManager::RemoveOrphans(const std::map<std::string, ContainerState>& containers) {
  std::set<std::string> known;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, e] : entries_) known.insert(e->record.runsc_id);
  }
  for (const auto& [rid, c] : containers) {
    if (known.count(rid)) continue;
    spdlog::warn("recovery: removing runsc container {} ({}) that has no sandbox record", rid,
                 c.status);
    ReleaseRuntime(rid);
  }
  std::error_code ec;
  for (const auto& dir : std::filesystem::directory_iterator(d_.layout.sandboxes(), ec)) {
    std::string rid = dir.path().filename().string();
    if (known.count(rid)) continue;
    spdlog::warn("recovery: removing sandbox directory {} that has no sandbox record",
                 dir.path().string());
    auto st = RemoveSandboxFiles(rid);
    if (!st.ok()) spdlog::error("recovery: {}", st.ToString());
  }
}

}  // namespace osgv
