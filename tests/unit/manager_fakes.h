// Fakes for driving SandboxManager without root, runsc or mounts:
//
//   FakeMounter          records overlay mounts in a set.
//   FakeMonitorLauncher  "launches" a monitor by forking a sleeping child
//                        the test controls; killing it (optionally after
//                        writing the exit file) simulates the sandbox ending.
//                        It can be told to block or to fail.
//   HookedRunner         the FakeRunner of fake_runner.h, plus per-subcommand
//                        side effects (e.g. a `checkpoint` that writes image
//                        files into --image-path=, as runsc does), and
//                        subcommands that hang until released or abandoned.
//   ChildProcess         a sleeping child process, killed and reaped at scope
//                        exit (a "live container" for recovery tests).
//   FailingStore         the real store, whose writes can be made to fail
//                        (a full or broken disk).
//   EventLog             a bus subscription that keeps every published event,
//                        with the record's phase at the moment it was
//                        published (read from the store).
//
// Header-only so the unit test glob (unit/*_test.cc) needs no change.
#pragma once

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "lifecycle/events/event_bus.h"
#include "lifecycle/monitor/monitor.h"
#include "lifecycle/rootfs/rootfs_mounter.h"
#include "lifecycle/store/state_store.h"
#include "openshell_gvisor/sandbox.h"
#include "unit/fake_runner.h"

namespace osgv::testing {

// ---- processes ---------------------------------------------------------------

// Forks a child that sleeps until killed. exec'ing sleep(1) drops our
// close-on-exec fds; if that fails the child just pauses.
inline int SpawnSleeper() {
  pid_t pid = fork();
  if (pid == 0) {
    execlp("sleep", "sleep", "100000", static_cast<char*>(nullptr));
    for (;;) pause();
  }
  return static_cast<int>(pid);
}

// SIGKILL and reap (ECHILD is fine: an ExitWatcher may have reaped it).
inline void KillAndReap(int pid) {
  if (pid <= 0) return;
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

// True once `holds` returns true, polled every 5 ms until `timeout`: for
// what the manager finishes on a background task.
inline bool Eventually(const std::function<bool()>& holds,
                       std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!holds()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// True once `pid` no longer exists (killed and reaped by someone).
inline bool WaitGone(int pid, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  return Eventually([pid] { return kill(pid, 0) != 0 && errno == ESRCH; }, timeout);
}

// Forks and execs `argv` (PATH-resolved) in a process group of its own, so
// killing the group also ends whatever it started (e.g. a shell's sleep).
// The arrays are built before the fork: the child only calls
// async-signal-safe functions.
inline int SpawnProcess(const std::vector<std::string>& argv, const std::string& cwd = "") {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(126);
    execvp(args[0], args.data());
    _exit(127);
  }
  return static_cast<int>(pid);
}

class ChildProcess {
 public:
  ChildProcess() : pid_(SpawnSleeper()) {}
  // A process with this exact command line, in directory `cwd` (e.g. to
  // look like a sandbox's monitor to IsMonitorOf), in its own process group.
  explicit ChildProcess(const std::vector<std::string>& argv, const std::string& cwd = "")
      : pid_(SpawnProcess(argv, cwd)), group_(true) {
    if (pid_ > 0) setpgid(pid_, pid_);  // no race with Kill() before exec
  }
  ~ChildProcess() {
    if (reaped_) return;
    Kill();
    KillAndReap(pid_);
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  int pid() const { return pid_; }
  // Kills it (and its process group, if it has one) without reaping:
  // whoever watches it (an ExitWatcher) reaps.
  void Kill() const {
    if (pid_ <= 0) return;
    if (group_) kill(-pid_, SIGKILL);
    kill(pid_, SIGKILL);
  }
  // Kills and reaps it: afterwards the pid no longer exists at all (a
  // zombie would still answer kill(pid, 0)). Only for unwatched processes.
  void KillAndWait() {
    Kill();
    waitpid(pid_, nullptr, 0);
    reaped_ = true;
  }

 private:
  int pid_;
  bool group_ = false;
  bool reaped_ = false;
};

// ---- rootfs ------------------------------------------------------------------

class FakeMounter : public RootfsMounter {
 public:
  absl::Status MountOverlay(const std::string& lower, const std::string& upper,
                            const std::string& work, const std::string& target) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++mount_calls_;
    if (!mount_error_.ok()) return mount_error_;
    mounts_.insert(target);
    lowers_[target] = lower;
    (void)upper;
    (void)work;
    return absl::OkStatus();
  }
  absl::Status Unmount(const std::string& target) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++unmount_calls_;
    mounts_.erase(target);
    return absl::OkStatus();
  }
  bool IsMounted(const std::string& target) override {
    std::lock_guard<std::mutex> lock(mu_);
    return mounts_.count(target) > 0;
  }
  std::vector<std::string> MountsUnder(const std::string& prefix) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out;
    for (const auto& m : mounts_) {
      if (m == prefix || m.rfind(prefix + "/", 0) == 0) out.push_back(m);
    }
    std::sort(out.begin(), out.end(),
              [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
    return out;
  }

  // Every later MountOverlay fails with `status` (OK restores success).
  void FailMounts(absl::Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    mount_error_ = std::move(status);
  }
  // Pretends something is mounted (e.g. a leftover found by recovery).
  void AddMount(const std::string& target) {
    std::lock_guard<std::mutex> lock(mu_);
    mounts_.insert(target);
  }
  std::set<std::string> mounts() const {
    std::lock_guard<std::mutex> lock(mu_);
    return mounts_;
  }
  std::string LowerOf(const std::string& target) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = lowers_.find(target);
    return it == lowers_.end() ? "" : it->second;
  }
  int mount_calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return mount_calls_;
  }
  int unmount_calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return unmount_calls_;
  }

 private:
  mutable std::mutex mu_;
  std::set<std::string> mounts_;
  std::map<std::string, std::string> lowers_;
  absl::Status mount_error_;
  int mount_calls_ = 0;
  int unmount_calls_ = 0;
};

// ---- monitors ----------------------------------------------------------------

class FakeMonitorLauncher : public MonitorLauncher {
 public:
  struct Call {
    MonitorSpec spec;
    std::string spec_path;
  };

  ~FakeMonitorLauncher() override {
    Unblock();
    KillAll();
  }

  absl::StatusOr<MonitorHandle> Launch(const MonitorSpec& spec,
                                       const std::string& spec_path) override {
    std::unique_lock<std::mutex> lock(mu_);
    calls_.push_back({spec, spec_path});
    cv_.notify_all();
    cv_.wait(lock, [this] { return !blocked_; });
    if (on_restore_ && !spec.restore_image_dir.empty()) {
      auto hook = on_restore_;
      lock.unlock();  // the hook may block on what the manager does meanwhile
      absl::Status st = hook(spec);
      lock.lock();
      if (!st.ok()) return st;
    }
    if (!fail_next_.empty()) {
      absl::Status st = fail_next_.front();
      fail_next_.erase(fail_next_.begin());
      return st;
    }
    if (!fail_.ok()) return fail_;
    int pid = SpawnSleeper();
    if (pid <= 0) return absl::InternalError("fork failed");
    pids_.push_back(pid);
    monitors_[spec.container_id] = {pid, spec};
    return MonitorHandle{pid, pid};
  }

  // Launch waits (after recording the call) until Unblock().
  void Block() {
    std::lock_guard<std::mutex> lock(mu_);
    blocked_ = true;
  }
  void Unblock() {
    std::lock_guard<std::mutex> lock(mu_);
    blocked_ = false;
    cv_.notify_all();
  }
  // Waits until Launch has been entered `n` times in total.
  bool WaitCalls(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return calls_.size() >= n; });
  }

  // Runs for every later restore, as runsc would read the image; a status
  // that is not OK fails that launch.
  void OnRestore(std::function<absl::Status(const MonitorSpec&)> hook) {
    std::lock_guard<std::mutex> lock(mu_);
    on_restore_ = std::move(hook);
  }

  // Every later launch fails with `status` (OK restores success).
  void FailWith(absl::Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_ = std::move(status);
  }
  // Only the next launch fails.
  void FailNext(absl::Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_next_.push_back(std::move(status));
  }

  std::vector<Call> calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  size_t call_count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_.size();
  }
  // The live monitor of a container (its latest launch), 0 if none.
  int PidOf(const std::string& container_id) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = monitors_.find(container_id);
    return it == monitors_.end() ? 0 : it->second.first;
  }

  // Simulates the sandbox's end: the monitor writes the exit file (when
  // `exit_code` is set) and exits. Kills without reaping: the manager's
  // ExitWatcher reaps it. Returns the killed pid (0 if none).
  int Exit(const std::string& container_id, std::optional<int> exit_code) {
    std::pair<int, MonitorSpec> m;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = monitors_.find(container_id);
      if (it == monitors_.end()) return 0;
      m = it->second;
      monitors_.erase(it);
    }
    if (exit_code) {
      ExitRecord r;
      r.exit_code = *exit_code;
      r.at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
      (void)WriteExitRecord(m.second.exit_file, r);
    }
    kill(m.first, SIGKILL);
    return m.first;
  }

  void KillAll() {
    std::vector<int> pids;
    {
      std::lock_guard<std::mutex> lock(mu_);
      pids.swap(pids_);
      monitors_.clear();
    }
    for (int pid : pids) KillAndReap(pid);
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Call> calls_;
  bool blocked_ = false;
  absl::Status fail_;
  std::vector<absl::Status> fail_next_;
  std::function<absl::Status(const MonitorSpec&)> on_restore_;
  std::vector<int> pids_;
  std::map<std::string, std::pair<int, MonitorSpec>> monitors_;  // by container id
};

// ---- runsc -------------------------------------------------------------------

// FakeRunner with side effects: a hook runs after the scripted answer is
// chosen, outside the runner's lock, and sees the command and its answer.
class HookedRunner : public FakeRunner {
 public:
  using Hook = std::function<void(const Command&, const absl::StatusOr<CommandResult>&)>;

  void OnRun(const std::string& key, Hook hook) {
    std::lock_guard<std::mutex> lock(hook_mu_);
    hooks_[key] = std::move(hook);
  }

  absl::StatusOr<CommandResult> Run(const Command& command) override {
    auto result = FakeRunner::Run(command);
    if (!WaitWhileHung(KeyOf(command))) {
      return absl::CancelledError("killed: the driver is shutting down");
    }
    Hook hook;
    {
      std::lock_guard<std::mutex> lock(hook_mu_);
      auto it = hooks_.find(KeyOf(command));
      if (it != hooks_.end()) hook = it->second;
    }
    if (hook) hook(command, result);
    return result;
  }

  // Every later command of subcommand `key` blocks (a runsc that hangs)
  // until Release() or AbandonAll(); then it gets its scripted answer, or
  // CANCELLED when abandoned.
  void Hang(const std::string& key) {
    std::lock_guard<std::mutex> lock(hang_mu_);
    hung_keys_.insert(key);
  }
  void Release() {
    std::lock_guard<std::mutex> lock(hang_mu_);
    hung_keys_.clear();
    hang_cv_.notify_all();
  }
  void AbandonAll() override {
    FakeRunner::AbandonAll();
    std::lock_guard<std::mutex> lock(hang_mu_);
    hang_abandoned_ = true;
    hang_cv_.notify_all();
  }
  // Until `n` commands in total have blocked in Hang.
  bool WaitHanging(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> lock(hang_mu_);
    return hang_cv_.wait_for(lock, timeout, [&] { return hung_total_ >= n; });
  }

  // The value of a "--flag=value" argument, "" if absent.
  static std::string FlagValue(const Command& c, const std::string& flag) {
    const std::string prefix = flag + "=";
    for (const auto& a : c.argv) {
      if (a.rfind(prefix, 0) == 0) return a.substr(prefix.size());
    }
    return "";
  }

  // Commands of subcommand `key` whose last argument is `id`.
  std::vector<Command> CommandsFor(const std::string& key, const std::string& id) const {
    std::vector<Command> out;
    for (const auto& c : commands()) {
      if (KeyOf(c) == key && !c.argv.empty() && c.argv.back() == id) out.push_back(c);
    }
    return out;
  }
  bool SawForceDelete(const std::string& id) const {
    for (const auto& c : CommandsFor("delete", id)) {
      if (std::find(c.argv.begin(), c.argv.end(), "--force") != c.argv.end()) return true;
    }
    return false;
  }
  size_t CountOf(const std::string& key) const {
    size_t n = 0;
    for (const auto& c : commands()) n += KeyOf(c) == key;
    return n;
  }

  // JSON as `runsc state` prints it.
  static std::string StateJson(const std::string& id, const std::string& status, int pid) {
    return nlohmann::json{{"id", id}, {"status", status}, {"pid", pid}, {"bundle", "/b"}}.dump();
  }
  // JSON as `runsc list --format=json` prints it: {id, status, pid}...
  struct Listed {
    std::string id;
    std::string status;
    int pid;
  };
  static std::string ListJson(const std::vector<Listed>& containers) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& c : containers) {
      arr.push_back({{"id", c.id}, {"status", c.status}, {"pid", c.pid}, {"bundle", "/b"}});
    }
    return arr.dump();
  }
  static CommandResult NoSuchContainer(const std::string& id) {
    return Exit(1, "loading container: container \"" + id + "\" does not exist\n");
  }

  // Writes what a runsc checkpoint leaves in its --image-path (the dir is
  // created, as runsc does).
  static void WriteCheckpointFiles(const std::string& dir, const std::string& content) {
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/checkpoint.img", std::ios::binary) << content;
    std::ofstream(dir + "/pages_meta.img", std::ios::binary) << "meta:" << content.size();
  }
  // The same for an uncompressed checkpoint, whose memory runsc writes to
  // pages.img (the image a RestoreGate applies to).
  static void WritePagedCheckpointFiles(const std::string& dir, const std::string& content) {
    WriteCheckpointFiles(dir, "kernel state");
    std::ofstream(dir + "/pages.img", std::ios::binary) << content;
  }

 private:
  // false when abandoned while (or before) hanging.
  bool WaitWhileHung(const std::string& key) {
    std::unique_lock<std::mutex> lock(hang_mu_);
    if (!hung_keys_.count(key)) return true;  // FakeRunner::Run answered an abandon
    ++hung_total_;
    hang_cv_.notify_all();
    hang_cv_.wait(lock, [&] { return hang_abandoned_ || !hung_keys_.count(key); });
    return !hang_abandoned_;
  }

  std::mutex hook_mu_;
  std::map<std::string, Hook> hooks_;
  std::mutex hang_mu_;
  std::condition_variable hang_cv_;
  std::set<std::string> hung_keys_;
  size_t hung_total_ = 0;
  bool hang_abandoned_ = false;
};

// ---- store -------------------------------------------------------------------

// Passes everything to the real store until told to fail its updates (all,
// or those `when` picks), as a full or broken disk would.
class FailingStore : public RecordStore {
 public:
  explicit FailingStore(RecordStore* real) : real_(real) {}

  void FailUpdates(absl::Status error,
                   std::function<bool(const SandboxRecord&)> when = nullptr) {
    std::lock_guard<std::mutex> lock(mu_);
    error_ = std::move(error);
    when_ = std::move(when);
  }
  int failed() const {
    std::lock_guard<std::mutex> lock(mu_);
    return failed_;
  }
  // Runs at the start of every later Insert or Update, before the real
  // store is asked: a latch for "the manager is in its commit now".
  void BeforeWrite(std::function<void(const SandboxRecord&)> hook) {
    std::lock_guard<std::mutex> lock(mu_);
    before_write_ = std::move(hook);
  }

  absl::Status Insert(const SandboxRecord& r) override {
    RunBeforeWrite(r);
    return real_->Insert(r);
  }
  absl::Status Update(const SandboxRecord& r, Durability d) override {
    RunBeforeWrite(r);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!error_.ok() && (!when_ || when_(r))) {
        ++failed_;
        return error_;
      }
    }
    return real_->Update(r, d);
  }
  absl::Status Delete(const std::string& id) override { return real_->Delete(id); }
  absl::StatusOr<std::optional<SandboxRecord>> Get(const std::string& id) override {
    return real_->Get(id);
  }
  absl::StatusOr<std::vector<SandboxRecord>> List() override { return real_->List(); }

 private:
  void RunBeforeWrite(const SandboxRecord& r) {
    std::function<void(const SandboxRecord&)> hook;
    {
      std::lock_guard<std::mutex> lock(mu_);
      hook = before_write_;
    }
    if (hook) hook(r);
  }

  RecordStore* real_;
  mutable std::mutex mu_;
  absl::Status error_;
  std::function<bool(const SandboxRecord&)> when_;
  std::function<void(const SandboxRecord&)> before_write_;
  int failed_ = 0;
};

// ---- events ------------------------------------------------------------------

// Every event published on the bus after construction, each with the phase
// of the sandbox's stored record at the moment of publishing. The manager
// persists before it publishes and publishes sandbox snapshots under its own
// lock, so the store read from the publishing thread sees exactly the record
// the snapshot was made from.
class EventLog {
 public:
  struct Entry {
    WatchEvent event;
    std::optional<SandboxPhase> phase;  // none without a record (platform events, deleted)
  };

  EventLog(EventBus* bus, StateStore* store) : store_(store), sub_(bus->Subscribe()) {
    sub_->SetNotify([this] { Drain(); });
  }
  ~EventLog() { sub_->SetNotify({}); }
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  std::vector<Entry> entries() const {
    std::lock_guard<std::mutex> lock(mu_);
    return entries_;
  }
  std::vector<SandboxSnapshot> Snapshots(const std::string& id) const {
    std::vector<SandboxSnapshot> out;
    for (const auto& e : entries()) {
      if (e.event.kind == WatchEvent::Kind::kSandbox && e.event.sandbox.id == id) {
        out.push_back(e.event.sandbox);
      }
    }
    return out;
  }
  std::vector<PlatformEvent> PlatformEvents(const std::string& id) const {
    std::vector<PlatformEvent> out;
    for (const auto& e : entries()) {
      if (e.event.kind == WatchEvent::Kind::kPlatformEvent && e.event.sandbox_id == id) {
        out.push_back(e.event.event);
      }
    }
    return out;
  }
  bool HasPlatformEvent(const std::string& id, const std::string& type,
                        const std::string& reason) const {
    for (const auto& p : PlatformEvents(id)) {
      if (p.type == type && p.reason == reason) return true;
    }
    return false;
  }
  bool HasDeleted(const std::string& id) const {
    for (const auto& e : entries()) {
      if (e.event.kind == WatchEvent::Kind::kDeleted && e.event.sandbox_id == id) return true;
    }
    return false;
  }
  size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return entries_.size();
  }
  bool overflowed() const { return sub_->overflowed(); }

  // Waits until `pred(entries)` holds.
  bool WaitFor(const std::function<bool(const std::vector<Entry>&)>& pred,
               std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return pred(entries_); });
  }

 private:
  // Serialized, so events keep their publishing order and the store read
  // happens while the publisher still holds the manager's lock.
  void Drain() {
    std::lock_guard<std::mutex> drain(drain_mu_);
    WatchEvent ev;
    while (sub_->TryPop(&ev)) {
      Entry entry;
      if (ev.kind == WatchEvent::Kind::kSandbox && store_ != nullptr) {
        auto rec = store_->Get(ev.sandbox.id);
        if (rec.ok() && rec->has_value()) entry.phase = (*rec)->phase;
      }
      entry.event = std::move(ev);
      std::lock_guard<std::mutex> lock(mu_);
      entries_.push_back(std::move(entry));
      cv_.notify_all();
    }
  }

  StateStore* store_;
  std::shared_ptr<Subscription> sub_;
  std::mutex drain_mu_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Entry> entries_;
};

// The one condition of a snapshot with `type`, or nullopt.
inline std::optional<Condition> ConditionOf(const SandboxSnapshot& s, const std::string& type) {
  for (const auto& c : s.status.conditions) {
    if (c.type == type) return c;
  }
  return std::nullopt;
}

}  // namespace osgv::testing
