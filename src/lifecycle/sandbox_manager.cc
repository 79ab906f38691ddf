// SandboxManager: the registry of sandboxes and their transitions. Get,
// List, Watch and Find answer from memory; Transition persists a record and
// publishes it; Delete removes a sandbox and everything it owns. Each
// operation that changes more lives in a file of its own:
// sandbox_provision.cc (Create), sandbox_stop.cc (Stop), sandbox_start.cc
// (Start), sandbox_exit.cc (the end of a run), sandbox_idle_suspend.cc,
// sandbox_recovery.cc (Recover) and sandbox_manager_sweep.cc (orphans).
#include "lifecycle/sandbox_manager.h"

#include <spdlog/spdlog.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "lifecycle/bundle/token_file.h"
#include "lifecycle/fs_util.h"
#include "lifecycle/log_context.h"
#include "lifecycle/manager_support.h"
#include "lifecycle/sandbox_status.h"
#include "lifecycle/store/record_lookup.h"

namespace osgv {

using manager_support::NowMs;

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
  // The monitor writes its exit record into the sandbox dir as the killed
  // sandbox ends: removing the dir under it failed with ENOTEMPTY
  // (bench/density.sh, deleting right after Ready).
  WaitForMonitorEnd(rid);
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

}  // namespace osgv
