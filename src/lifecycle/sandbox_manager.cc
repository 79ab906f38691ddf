// SandboxManager: the registry of sandboxes and their transitions. Get,
// List, Watch and Find answer from memory; Transition persists a record and
// publishes it; Delete removes a sandbox and everything it owns. Each
// operation that changes more lives in a file of its own:
// sandbox_provision.cc (Create), sandbox_stop.cc (Stop), sandbox_start.cc
// (Start), sandbox_exit.cc (the end of a run), sandbox_idle_suspend.cc,
// sandbox_recovery.cc (Recover) and sandbox_manager_sweep.cc (orphans).
#include "lifecycle/sandbox_manager.h"

#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "lifecycle/bundle/bundle_writer.h"
#include "lifecycle/bundle/token_file.h"
#include "lifecycle/fs_util.h"
#include "lifecycle/log_context.h"
#include "lifecycle/manager_support.h"
#include "lifecycle/sandbox_status.h"
#include "lifecycle/spec_codec.h"
#include "lifecycle/store/record_lookup.h"

namespace osgv {

namespace {

HostSeams SeamsOf(const ManagerDeps& d) {
  HostSeams s;
  s.config = &d.config;
  s.layout = &d.layout;
  s.runsc = d.runsc;
  s.images = d.images;
  s.mounter = d.mounter;
  s.monitors = d.monitors;
  s.network = d.network;
  s.resolver = d.resolver;
  s.cgroup_root = d.cgroup_root;
  return s;
}

}  // namespace

SandboxManager::SandboxManager(ManagerDeps deps)
    : d_(std::move(deps)),
      seams_(SeamsOf(d_)),
      idle_ticker_(d_.idle_ticker != nullptr ? d_.idle_ticker : &steady_ticker_),
      queue_(d_.operation_workers) {}

SandboxManager::~SandboxManager() { Shutdown(); }

// ---- plans -----------------------------------------------------------------

SandboxManager::EntryPtr SandboxManager::LoadEntry(const SandboxRecord& stored) {
  if (!stored.plan_json.empty()) {
    auto plan = DecodePlan(stored.plan_json);
    if (plan.ok()) return std::make_shared<Entry>(&seams_, stored, *std::move(plan));
    spdlog::error("sandbox {}: {}; deriving it again", stored.id, plan.status().ToString());
  }
  // Schema 1 (or a damaged plan): derived the way every use derived it
  // before plans existed.
  auto legacy = PlanLegacySandbox(DecodeRequest(stored.spec_json), stored.image_ref, d_.config,
                                  LegacyBundleNetworked(d_.layout.bundle_config(stored.runsc_id)));
  if (!legacy.status.ok()) {
    // Left underived in the record: a later driver may validate it again.
    spdlog::warn("sandbox {}: its stored request no longer validates ({}); it can start from "
                 "its existing bundle only",
                 stored.id, legacy.status.ToString());
    return std::make_shared<Entry>(&seams_, stored, std::move(legacy.plan), legacy.status);
  }
  SandboxRecord r = stored;
  r.plan_json = EncodePlan(legacy.plan);
  ++r.generation;
  // Once: from now on this record reads like a new one. Written before the
  // manager serves, so no one waits for it.
  if (auto st = d_.store->Update(r); !st.ok()) {
    LatchBackgroundError(st);
    r = stored;
  }
  return std::make_shared<Entry>(&seams_, r, std::move(legacy.plan));
}

// ---- queries ---------------------------------------------------------------

absl::StatusOr<SandboxManager::EntryPtr> SandboxManager::LookupForOperation(
    const std::string& id, const std::string& name) const {
  if (id.empty() && name.empty()) {
    return absl::InvalidArgumentError("sandbox_id: required (or sandbox_name)");
  }
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<EntryPtr> entries;
  std::vector<const SandboxRecord*> records;
  for (const auto& [eid, e] : entries_) {
    entries.push_back(e);
    records.push_back(&e->record);
  }
  auto i = LookupSandbox(records, id, name);
  if (!i.ok()) return i.status();
  return entries[*i];
}

SandboxPhase SandboxManager::Phase(const EntryPtr& e) const {
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
  // A Delete that raced this caller has removed the record: nothing to
  // write, and no failed commit either.
  if (e->removed) return absl::NotFoundError(absl::StrCat("sandbox '", e->id, "' not found"));
  SandboxRecord next;
  {
    std::lock_guard<std::mutex> lock(mu_);
    next = e->record;
  }
  const SandboxPhase old_phase = next.phase;
  mutate(next);
  // Once a delete has begun, an operation finishing in parallel must not
  // make the record look alive again: a crash then would lose the delete.
  if (old_phase == phase::kDeleting) next.phase = phase::kDeleting;
  if (next.phase != old_phase) next.updated_at_ms = UnixNowMs();
  next.generation++;
  auto st = d_.store->Update(next, durability);
  if (!st.ok()) {
    // Memory keeps the last committed record, so Get and Watch never show
    // what a crash would lose; the host may have moved on, which only
    // recovery can tell: the driver stops changing sandboxes.
    st = absl::Status(st.code(), absl::StrCat("sandbox ", next.id, ": cannot persist phase ",
                                              PhaseName(next.phase), ": ", st.message()));
    spdlog::error("{}", std::string(st.message()));
    LatchBackgroundError(st);
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
  ev.event.timestamp_ms = UnixNowMs();
  ev.event.source = "gvisor";
  ev.event.type = type;
  ev.event.reason = reason;
  ev.event.message = message;
  ev.event.metadata = std::move(metadata);
  d_.events->Publish(ev);
}

absl::Status SandboxManager::Fail(const EntryPtr& e, const std::string& reason,
                                  const std::string& message) {
  spdlog::warn("sandbox {}: {}: {}", e->id, reason, message);
  auto st = Transition(e, [&](SandboxRecord& r) {
    r.phase = phase::kFailed;
    r.reason = reason;
    r.message = message;
    r.monitor_pid = 0;
  });
  PublishEvent(e->id, "Warning", reason, message);
  return st;
}

// ---- delete --------------------------------------------------------------------

absl::StatusOr<bool> SandboxManager::Delete(const std::string& id, const std::string& name,
                                            Deadline deadline) {
  if (auto st = AcceptingChanges(); !st.ok()) return st;
  auto found = LookupForOperation(id, name);
  if (!found.ok()) {
    if (absl::IsNotFound(found.status())) return false;  // nothing was there
    return found.status();
  }
  EntryPtr e = *found;
  if (Deadline::clock::now() >= deadline) {
    return absl::DeadlineExceededError("DeleteSandbox: the deadline passed before it began");
  }
  e->cancel = true;
  // Tell watchers at once, even while another operation finishes its step.
  auto st = Transition(e, [](SandboxRecord& r) { r.phase = phase::kDeleting; });
  if (absl::IsNotFound(st)) return false;  // an earlier Delete just finished
  if (!st.ok()) return st;
  return RunOperation(e, kDeleteOp, "DeleteSandbox", [this, e] { return DeleteQueued(e); },
                      deadline);
}

absl::StatusOr<bool> SandboxManager::DeleteQueued(const EntryPtr& e) {
  {
    // An earlier Delete of the same sandbox (queued before this one was
    // joined or followed it) has already removed it.
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(e->id);
    if (it == entries_.end() || it->second != e) return false;
  }
  e->release_pending = false;  // done here, whatever a Stop left
  e->host.Release();
  // The monitor writes its exit record into the sandbox dir as the killed
  // sandbox ends: removing the dir under it failed with ENOTEMPTY
  // (bench/density.sh, deleting right after Ready).
  e->host.WaitForMonitorEnd();
  auto st = e->host.RemoveFiles();
  if (!st.ok()) return st;
  {
    std::lock_guard<std::mutex> writer(e->record_mu);
    st = d_.store->Delete(e->id);
    if (!st.ok()) {
      LatchBackgroundError(st);
      return st;
    }
    e->removed = true;
  }
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

}  // namespace osgv
