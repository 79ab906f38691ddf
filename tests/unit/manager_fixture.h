// The SandboxManager test fixture: a manager on fakes (no root, no runsc,
// no mounts) in a private temp dir, with the store, image store, event bus
// and exit watcher real, and the helpers the manager tests share
// (sandbox_manager_test.cc, sandbox_deadline_test.cc,
// sandbox_commit_test.cc). The "monitors" and "sandboxes" are sleeping
// child processes of the test.
#pragma once

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "lifecycle/checkpoint/checkpoint_image.h"
#include "lifecycle/fs_util.h"
#include "lifecycle/monitor/monitor.h"
#include "lifecycle/runsc/runsc_id.h"
#include "lifecycle/sandbox_manager.h"
#include "lifecycle/sandbox_status.h"
#include "lifecycle/spec_codec.h"
#include "unit/fake_restore_reader.h"
#include "unit/fake_sandbox_network.h"
#include "unit/fake_ticker.h"
#include "unit/gate.h"
#include "unit/image_test_support.h"
#include "unit/manager_fakes.h"

// Catch prints a phase by its name in a failed check.
namespace Catch {
template <>
struct StringMaker<osgv::SandboxPhase> {
  static std::string convert(osgv::SandboxPhase p) { return osgv::PhaseName(p); }
};
}  // namespace Catch

namespace osgv::testing {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using Kind = WatchEvent::Kind;

inline int64_t NowMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline std::string Msg(const absl::Status& s) { return std::string(s.message()); }

// Everything a manager needs, built in a private temp dir. The manager
// itself is created on first use (M()), so recovery tests can fill the
// store first.
struct ManagerFixture {
  TempDir tmp;
  StateLayout layout;
  std::unique_ptr<StateStore> store;
  HookedRunner runner;
  std::unique_ptr<Runsc> runsc;
  std::unique_ptr<ImageStore> images;
  FakeMounter mounter;
  FakeMonitorLauncher launcher;
  ExitWatcher exits;
  EventBus bus{4096};
  std::unique_ptr<EventLog> log;
  std::string cgroup_root;
  std::string image_ref;
  Config config;
  FakeTicker ticker;       // idle suspend's time
  FakeSandboxNetwork net;  // used when Networked() was called
  bool networked = false;
  HostResolver* resolver = nullptr;  // policy fence lookups (v0.1.x/Ryno sandboxes)
  std::unique_ptr<FailingStore> faulty;  // the manager's store, once FaultyStore() was called
  std::unique_ptr<SandboxManager> mgr;

  ManagerFixture() {
    layout.root = tmp.Dir("state");
    auto opened = StateStore::Open(layout.database());
    REQUIRE(opened.ok());
    store = std::move(*opened);
    RunscOptions options;
    options.path = "runsc";
    options.root = layout.runsc_root();
    runsc = std::make_unique<Runsc>(&runner, options);
    // The backports runsc the driver requires for Stop (runsc.md).
    RunscFeatures features;
    features.flags = {"overlay2", "net-disconnect-ok"};
    runsc->SetFeatures(features);
    images = std::make_unique<ImageStore>(layout.images());
    cgroup_root = tmp.Dir("cgroup");
    // An empty runsc root unless a test says otherwise (runsc prints null).
    runner.Script("list", FakeRunner::Ok("null"));

    // A tiny image: a shell "binary" and an /etc/passwd.
    OciLayoutBuilder oci(tmp.Dir("image"));
    auto layer = oci.AddLayer({Dir("etc"), File("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
                               Dir("bin"), File("bin/sh", "#!", 0755)});
    oci.WriteIndex({oci.AddImage({layer}, {{"Cmd", {"/bin/sh"}}})});
    image_ref = "oci:" + oci.dir();
    config.images.oci_roots = {tmp.path()};  // the state dir inside stays refused

    log = std::make_unique<EventLog>(&bus, store.get());
  }

  ~ManagerFixture() {
    launcher.Unblock();
    if (mgr) mgr->Shutdown();
    exits.Stop();  // no exit callback may reach a destroyed manager
    mgr.reset();
    launcher.KillAll();
    log.reset();
  }

  SandboxManager& M() {
    if (!mgr) {
      ManagerDeps d;
      d.config = config;
      d.layout = layout;
      d.store = faulty ? static_cast<RecordStore*>(faulty.get()) : store.get();
      d.tools = &runner;  // abandoned by a Shutdown that nears its bound
      d.runsc = runsc.get();
      d.images = images.get();
      d.mounter = &mounter;
      d.monitors = &launcher;
      d.exits = &exits;
      d.events = &bus;
      d.cgroup_root = cgroup_root;
      if (networked) d.network = &net;
      d.resolver = resolver;
      d.idle_ticker = &ticker;
      mgr = std::make_unique<SandboxManager>(d);
    }
    return *mgr;
  }

  SandboxRequest Req(const std::string& id, const std::string& name,
                     const std::string& workspace = "dev") const {
    SandboxRequest r;
    r.id = id;
    r.name = name;
    r.workspace = workspace;
    r.spec.tmpl.image = image_ref;
    r.spec.command = {"/bin/sh", "-c", "sleep 1000"};
    r.spec.sandbox_token = "secret-token";
    return r;
  }

  SandboxRecord Rec(const std::string& id) {
    auto r = store->Get(id);
    REQUIRE(r.ok());
    REQUIRE(r->has_value());
    return **r;
  }
  bool HasRecord(const std::string& id) {
    auto r = store->Get(id);
    return r.ok() && r->has_value();
  }
  // The stored phase; none without a record.
  std::optional<SandboxPhase> Phase(const std::string& id) {
    auto r = store->Get(id);
    if (!r.ok() || !r->has_value()) return std::nullopt;
    return (*r)->phase;
  }
  // Waits until the latest snapshot published for `id` was made in phase
  // `ph` (so the store has it and watchers have seen it).
  bool WaitPhase(const std::string& id, SandboxPhase ph,
                 milliseconds timeout = std::chrono::seconds(10)) {
    return log->WaitFor(
        [&](const std::vector<EventLog::Entry>& entries) {
          for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
            if (it->event.kind == Kind::kSandbox && it->event.sandbox.id == id) {
              return it->phase == ph;
            }
          }
          return false;
        },
        timeout);
  }
  SandboxSnapshot Snap(const std::string& id) {
    auto s = M().Get(id, "");
    REQUIRE(s.ok());
    return *s;
  }
  std::string CheckpointRoot(const std::string& rid) const {
    return layout.checkpoint_root(config.checkpoint_dir, rid);
  }

  // The manager writes through a FailingStore (the real store behind it);
  // before M().
  FailingStore& FaultyStore() {
    if (!faulty) faulty = std::make_unique<FailingStore>(store.get());
    return *faulty;
  }

  // network.mode sandbox, with the fake host network; before M().
  void Networked() {
    config.network.mode = NetworkMode::kSandbox;
    networked = true;
  }
  std::vector<std::string> NetCalls() {
    std::lock_guard<std::mutex> lock(net.mu);
    return net.calls;
  }
  bool NetCalled(const std::string& call) {
    auto calls = NetCalls();
    return std::find(calls.begin(), calls.end(), call) != calls.end();
  }

  // Creates a sandbox and waits until it runs; returns its runsc id.
  std::string CreateRunning(const std::string& id, const std::string& name) {
    REQUIRE(M().Create(Req(id, name)).ok());
    REQUIRE(WaitPhase(id, phase::kRunning));
    std::string rid = Rec(id).runsc_id;
    REQUIRE(launcher.PidOf(rid) > 0);
    return rid;
  }

  // `runsc checkpoint` succeeds and leaves image files behind; with
  // `kill_sandbox`, the sandbox (our monitor child) ends, as it does with
  // a real runsc checkpoint.
  void ScriptCheckpointOk(bool kill_sandbox, const std::string& content = "memory pages") {
    runner.Script("checkpoint", FakeRunner::Ok());
    runner.OnRun("checkpoint", [this, kill_sandbox, content](
                                   const Command& c, const absl::StatusOr<CommandResult>& r) {
      if (!r.ok() || !r->ok()) return;
      HookedRunner::WriteCheckpointFiles(HookedRunner::FlagValue(c, "--image-path"), content);
      if (kill_sandbox) launcher.Exit(c.argv.back(), std::nullopt);
    });
  }
  // `runsc checkpoint` fails after writing part of an image.
  void ScriptCheckpointFails(const std::string& stderr_text) {
    runner.Script("checkpoint", FakeRunner::Exit(1, stderr_text));
    runner.OnRun("checkpoint", [](const Command& c, const absl::StatusOr<CommandResult>&) {
      HookedRunner::WriteCheckpointFiles(HookedRunner::FlagValue(c, "--image-path"), "half");
    });
  }

  // Stops a running sandbox with a successful checkpoint; returns the
  // sealed image.
  CheckpointImage StopWithCheckpoint(const std::string& id) {
    ScriptCheckpointOk(/*kill_sandbox=*/true);
    auto st = M().Stop(id, "");
    REQUIRE(st.ok());
    auto rec = Rec(id);
    REQUIRE(rec.phase == phase::kStopped);
    REQUIRE(!rec.checkpoint_json.empty());
    auto image = CheckpointFromJson(rec.checkpoint_json);
    REQUIRE(image.ok());
    return *image;
  }

  // The same with an uncompressed image (pages.img beside its metadata),
  // which Start restores through a RestoreGate.
  CheckpointImage StopWithPagedCheckpoint(const std::string& id) {
    runner.Script("checkpoint", FakeRunner::Ok());
    runner.OnRun("checkpoint", [this](const Command& c, const absl::StatusOr<CommandResult>& r) {
      if (!r.ok() || !r->ok()) return;
      HookedRunner::WritePagedCheckpointFiles(HookedRunner::FlagValue(c, "--image-path"),
                                              std::string(100000, 'p'));
      launcher.Exit(c.argv.back(), std::nullopt);
    });
    REQUIRE(M().Stop(id, "").ok());
    auto image = CheckpointFromJson(Rec(id).checkpoint_json);
    REQUIRE(image.ok());
    REQUIRE(image->files.count("pages.img") == 1);
    return *image;
  }
  // Makes every later restore read its image as runsc does; `restores`
  // counts those that read it whole.
  void RestoreLikeRunsc(const CheckpointImage& image, std::atomic<int>* restores) {
    size_t meta_size = std::filesystem::file_size(image.dir + "/pages_meta.img");
    launcher.OnRestore([meta_size, restores](const MonitorSpec& spec) {
      absl::Status st = ReadLikeRunscRestore(spec.restore_image_dir, meta_size);
      if (st.ok()) ++*restores;
      return st;
    });
  }

  // Waits for a platform event (they follow the snapshot they explain).
  bool WaitEvent(const std::string& id, const std::string& type, const std::string& reason) {
    return log->WaitFor(
        [&](const std::vector<EventLog::Entry>& entries) {
          for (const auto& e : entries) {
            if (e.event.kind == Kind::kPlatformEvent && e.event.sandbox_id == id &&
                e.event.event.type == type && e.event.event.reason == reason) {
              return true;
            }
          }
          return false;
        },
        std::chrono::seconds(5));
  }

  std::vector<std::string> TmpDirsIn(const std::string& dir) const {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      if (e.path().filename().string().rfind("tmp-", 0) == 0) out.push_back(e.path());
    }
    return out;
  }

  static std::string NewId() {
    auto rid = NewRunscId();
    REQUIRE(rid.ok());
    return *rid;
  }

  // A record as a previous driver run left it (with its plan under today's
  // config), plus its sandbox dir.
  SandboxRecord Prefill(const std::string& id, const std::string& name, SandboxPhase ph,
                        const std::string& reason = "") {
    SandboxRequest req = Req(id, name);
    SandboxRecord r;
    r.id = id;
    r.name = name;
    r.workspace = req.workspace;
    r.runsc_id = NewId();
    r.image_ref = image_ref;
    r.phase = ph;
    r.reason = reason;
    r.message = "as left by the previous driver run";
    r.spec_json = EncodeRequest(req);
    auto plan = PlanSandbox(req, config);
    REQUIRE(plan.ok());
    r.plan_json = EncodePlan(*plan);
    r.created_at_ms = NowMs() - 60000;
    r.updated_at_ms = NowMs() - 30000;
    r.generation = 3;
    REQUIRE(store->Insert(r).ok());
    REQUIRE(MakeDirs(layout.sandbox_dir(r.runsc_id), 0700).ok());
    return r;
  }

  // A sealed checkpoint image under the sandbox's checkpoint root.
  CheckpointImage SealImage(const std::string& rid, const std::string& content = "pages") {
    std::string root = CheckpointRoot(rid);
    REQUIRE(MakeDirs(root, 0700).ok());
    std::string tmp_dir = CheckpointPaths{root}.staging("sealing");
    HookedRunner::WriteCheckpointFiles(tmp_dir, content);
    CheckpointImage image;
    image.compression = "flate";
    image.created_at_ms = NowMs();
    auto sealed = SealCheckpoint(tmp_dir, CheckpointPaths{root}.image(), image);
    REQUIRE(sealed.ok());
    return *sealed;
  }

  // The exit file a monitor writes when the sandbox's main process ends.
  void WriteExit(const std::string& rid, int code) {
    ExitRecord exit;
    exit.exit_code = code;
    REQUIRE(WriteExitRecord(layout.exit_file(rid), exit).ok());
  }

  // After recovery adopted a sandbox whose monitor lives: the sandbox
  // process ending is not what is watched; the monitor ending, after it
  // recorded `code`, is.
  void ExpectOnlyTheMonitorIsWatched(const SandboxRecord& r, ChildProcess& monitor,
                                     ChildProcess& sandbox, int code) {
    sandbox.Kill();
    REQUIRE(Eventually([&] { return HasEnded(sandbox.pid()); }));
    SettleExits();
    DrainQueue(r.id);  // would fail if its exit had been taken for the sandbox's
    CHECK(Phase(r.id) == phase::kRunning);
    WriteExit(r.runsc_id, code);
    monitor.Kill();
    REQUIRE(WaitPhase(r.id, phase::kExited));
    CHECK(Rec(r.id).exit_code == code);
  }

  // Whether `pid` has ended: a zombie, or gone.
  static bool HasEnded(int pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return true;
    auto close = line.rfind(')');
    return close != std::string::npos && line.size() > close + 2 && line[close + 2] == 'Z';
  }

  // Returns once the manager has been told of every process end its
  // ExitWatcher could see so far: the watcher reports in order on one
  // thread, and a sentinel that ends now is reported after all of them.
  void SettleExits() {
    ChildProcess sentinel;
    Gate reported;
    exits.Watch(sentinel.pid(), [&reported] { reported.Open(); });
    sentinel.Kill();
    REQUIRE(reported.Wait());
  }

  // Returns once everything queued for the sandbox so far has run: an
  // operation that changes nothing in the phase it finds (Start of a
  // running sandbox, Stop of a stopped one) is queued behind it all.
  void DrainQueue(const std::string& id) {
    auto p = Phase(id);
    REQUIRE(p.has_value());
    if (*p == phase::kRunning) {
      REQUIRE(M().Start(id, "").ok());
    } else {
      REQUIRE(*p == phase::kStopped);
      REQUIRE(M().Stop(id, "").ok());
    }
  }

  // Whether some thread of this process waits for `pid` to end through a
  // pidfd (ProcessHandle): the manager waiting for a monitor.
  static bool SomeoneWaitsFor(int pid) {
    const std::string want = "Pid:\t" + std::to_string(pid);
    std::error_code ec;
    for (const auto& fd : fs::directory_iterator("/proc/self/fdinfo", ec)) {
      std::ifstream info(fd.path());
      for (std::string line; std::getline(info, line);) {
        if (line == want) return true;
      }
    }
    return false;
  }

  void ScriptList(const std::vector<HookedRunner::Listed>& containers) {
    runner.Script("list", FakeRunner::Ok(HookedRunner::ListJson(containers)));
  }

  // The condition vocabulary, checked on every snapshot ever published:
  // Ready=False with a non-transient reason only in exited/failed;
  // stopped is Suspended=True alone; running/stopping is Ready=True;
  // coming up and deleting are Ready=False with a transient reason.
  void CheckVocabulary() {
    auto entries = log->entries();
    REQUIRE(!log->overflowed());
    size_t snapshots = 0;
    for (const auto& e : entries) {
      if (e.event.kind != Kind::kSandbox) continue;
      ++snapshots;
      const SandboxSnapshot& s = e.event.sandbox;
      REQUIRE(e.phase.has_value());
      INFO("snapshot #" << snapshots << " of " << s.id << " published in phase '"
                        << PhaseName(*e.phase) << "'");
      CHECK(s.status.conditions.size() == 1);
      auto ready = ConditionOf(s, "Ready");
      auto suspended = ConditionOf(s, "Suspended");
      CHECK(s.status.deleting == (e.phase == phase::kDeleting));
      if (e.phase == phase::kStopped) {
        CHECK_FALSE(ready.has_value());
        REQUIRE(suspended.has_value());
        CHECK(suspended->status == "True");
        CHECK((suspended->reason == reason::kCheckpointed ||
               suspended->reason == reason::kStoppedWithoutMemory));
        continue;
      }
      CHECK_FALSE(suspended.has_value());
      REQUIRE(ready.has_value());
      INFO("Ready=" << ready->status << " reason=" << ready->reason);
      const bool terminal = e.phase == phase::kExited || e.phase == phase::kFailed;
      if (ready->status == "False" && !IsTransientReason(ready->reason)) CHECK(terminal);
      if (terminal) {
        CHECK(ready->status == "False");
        CHECK(!ready->reason.empty());
        CHECK_FALSE(IsTransientReason(ready->reason));
      } else if (e.phase == phase::kRunning || e.phase == phase::kStopping) {
        CHECK(ready->status == "True");
        CHECK(ready->reason == reason::kBackendReady);
      } else {
        CHECK(ready->status == "False");
        CHECK(IsTransientReason(ready->reason));
      }
    }
    CHECK(snapshots > 0);
  }
};

}  // namespace osgv::testing
