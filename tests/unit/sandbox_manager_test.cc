// SandboxManager: the state machine (create, exit, stop/start, delete) and
// startup reconciliation, with fakes only: no root, no runsc, no mounts.
// The store, image store, event bus and exit watcher are the real ones; the
// "monitors" and "sandboxes" are sleeping child processes of this test.
#include "lifecycle/sandbox_manager.h"

#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "lifecycle/bundle/oci_spec.h"
#include "lifecycle/bundle/token_file.h"
#include "lifecycle/checkpoint/checkpoint_image.h"
#include "lifecycle/fs_util.h"
#include "lifecycle/runsc/cgroups.h"
#include "lifecycle/sandbox_status.h"
#include "lifecycle/spec_codec.h"
#include "unit/manager_fixture.h"

namespace osgv {
namespace {

using namespace osgv::testing;  // NOLINT: fixture builders read as a DSL
using Fixture = ManagerFixture;

// ---- create --------------------------------------------------------------------

TEST_CASE("Create: an invalid request stores and publishes nothing", "[manager]") {
  Fixture f;
  auto& m = f.M();

  auto bad_name = f.Req("sb-1", "Bad_Name");
  auto no_id = f.Req("", "alpha");
  auto bad_image = f.Req("sb-1", "alpha");
  bad_image.spec.tmpl.image = "docker.io/library/Alpine:3";  // upper case is never a repository
  auto gpu = f.Req("sb-1", "alpha");
  gpu.spec.gpu_requested = true;

  absl::Status st = m.Create(bad_name);
  CHECK(st.code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(Msg(st), Catch::StartsWith("sandbox.name"));
  st = m.Create(no_id);
  CHECK(st.code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(Msg(st), Catch::StartsWith("sandbox.id"));
  st = m.Create(bad_image);
  CHECK(st.code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(Msg(st), Catch::Contains("template.image"));
  st = m.Create(gpu);
  CHECK(st.code() == absl::StatusCode::kFailedPrecondition);

  CHECK(f.store->List()->empty());
  CHECK(f.log->size() == 0);
  CHECK((!fs::exists(f.layout.sandboxes()) || fs::is_empty(f.layout.sandboxes())));
  CHECK(m.List().empty());
  CHECK(f.launcher.call_count() == 0);
  CHECK(f.runner.count() == 0);
  CHECK(m.Get("sb-1", "").status().code() == absl::StatusCode::kNotFound);

  // The same fixture accepts a valid request: the checks above are not
  // vacuous.
  REQUIRE(m.Create(f.Req("sb-1", "alpha")).ok());
  CHECK(f.HasRecord("sb-1"));
  CHECK(f.log->size() > 0);
  REQUIRE(f.WaitPhase("sb-1", phase::kRunning));
  f.CheckVocabulary();
}

TEST_CASE("Create: a duplicate id or (workspace and name) is ALREADY_EXISTS", "[manager]") {
  Fixture f;
  auto& m = f.M();
  REQUIRE(m.Create(f.Req("sb-1", "alpha", "dev")).ok());

  absl::Status same_id = m.Create(f.Req("sb-1", "beta", "dev"));
  CHECK(same_id.code() == absl::StatusCode::kAlreadyExists);
  CHECK_THAT(Msg(same_id), Catch::StartsWith("sandbox.id"));
  absl::Status same_name = m.Create(f.Req("sb-2", "alpha", "dev"));
  CHECK(same_name.code() == absl::StatusCode::kAlreadyExists);
  CHECK_THAT(Msg(same_name), Catch::StartsWith("sandbox.name") && Catch::Contains("'dev'"));
  // Rejected creates publish nothing and leave the first one alone.
  CHECK(f.log->Snapshots("sb-2").empty());
  CHECK_FALSE(f.HasRecord("sb-2"));
  CHECK(f.Rec("sb-1").name == "alpha");

  // The same name in another workspace is a different sandbox.
  REQUIRE(m.Create(f.Req("sb-3", "alpha", "other")).ok());
  CHECK(f.store->List()->size() == 2);
  REQUIRE(f.WaitPhase("sb-1", phase::kRunning));
  REQUIRE(f.WaitPhase("sb-3", phase::kRunning));
  f.CheckVocabulary();
}

TEST_CASE("Create: returns before provisioning then Starting then BackendReady", "[manager]") {
  Fixture f;
  auto& m = f.M();
  f.launcher.Block();
  REQUIRE(m.Create(f.Req("sb-1", "alpha")).ok());

  // Accepted and stored, not yet running.
  auto snap = f.Snap("sb-1");
  auto ready = ConditionOf(snap, "Ready");
  REQUIRE(ready);
  CHECK(ready->status == "False");
  CHECK(ready->reason == reason::kStarting);
  CHECK(snap.name == "alpha");
  CHECK(snap.workspace == "dev");
  CHECK(snap.status.sandbox_name == "alpha");
  const std::string rid = f.Rec("sb-1").runsc_id;
  CHECK(snap.status.instance_id == rid);
  CHECK(rid.size() == 37);
  CHECK(f.Phase("sb-1") == phase::kProvisioning);
  // The stored request never holds the token.
  CHECK(f.Rec("sb-1").spec_json.find("secret-token") == std::string::npos);

  REQUIRE(f.launcher.WaitCalls(1));
  CHECK(f.Phase("sb-1") == phase::kProvisioning);
  CHECK(ConditionOf(f.Snap("sb-1"), "Ready")->reason == reason::kStarting);
  f.launcher.Unblock();
  REQUIRE(f.WaitPhase("sb-1", phase::kRunning));

  ready = ConditionOf(f.Snap("sb-1"), "Ready");
  CHECK(ready->status == "True");
  CHECK(ready->reason == reason::kBackendReady);

  // Published in that order: Starting first, BackendReady last.
  auto snaps = f.log->Snapshots("sb-1");
  REQUIRE(snaps.size() >= 2);
  CHECK(ConditionOf(snaps.front(), "Ready")->status == "False");
  CHECK(ConditionOf(snaps.front(), "Ready")->reason == reason::kStarting);
  CHECK(ConditionOf(snaps.back(), "Ready")->status == "True");
  CHECK(ConditionOf(snaps.back(), "Ready")->reason == reason::kBackendReady);

  // Progress platform events the CLI reads.
  for (const char* r : {"Scheduled", "Pulled", "Started"}) {
    INFO(r);
    CHECK(f.WaitEvent("sb-1", "Normal", r));
  }
  for (const auto& p : f.log->PlatformEvents("sb-1")) {
    CHECK(p.source == "gvisor");
    CHECK(p.metadata.count("openshell.progress.active_step") == 1);
  }

  // What the monitor was asked to do.
  auto calls = f.launcher.calls();
  REQUIRE(calls.size() == 1);
  const MonitorSpec& ms = calls[0].spec;
  CHECK(ms.container_id == rid);
  CHECK(ms.restore_image_dir.empty());
  CHECK(ms.bundle == f.layout.bundle(rid));
  CHECK(ms.exit_file == f.layout.exit_file(rid));
  CHECK(calls[0].spec_path == f.layout.monitor_spec(rid));
  CHECK(fs::exists(f.layout.bundle_config(rid)));
  CHECK(f.mounter.mounts().count(f.layout.rootfs(rid)) == 1);
  CHECK_THAT(f.mounter.LowerOf(f.layout.rootfs(rid)), Catch::StartsWith(f.layout.images()));

  auto rec = f.Rec("sb-1");
  CHECK_THAT(rec.image_digest, Catch::StartsWith("sha256:"));
  CHECK(rec.monitor_pid == f.launcher.PidOf(rid));
  CHECK(rec.reason == reason::kBackendReady);
  f.CheckVocabulary();
}

TEST_CASE("Create: a monitor launch failure is a specific terminal failure", "[manager]") {
  Fixture f;
  auto& m = f.M();
  absl::Status launch_error;
  std::string expected_reason;
  SECTION("runsc start fails") {
    launch_error = absl::InternalError("runsc start: exit code 1: boom");
    expected_reason = reason::kContainerStartFailed;
  }
  SECTION("runsc create fails") {
    launch_error = absl::FailedPreconditionError("runsc create: exit code 1: no such file");
    expected_reason = reason::kContainerCreateFailed;
  }
  f.launcher.FailWith(launch_error);
  REQUIRE(m.Create(f.Req("sb-1", "alpha")).ok());
  REQUIRE(f.WaitPhase("sb-1", phase::kFailed));
  const std::string rid = f.Rec("sb-1").runsc_id;

  auto rec = f.Rec("sb-1");
  CHECK(rec.reason == expected_reason);
  CHECK_FALSE(IsTransientReason(rec.reason));
  CHECK_THAT(rec.message, Catch::Contains(Msg(launch_error)));
  CHECK(rec.monitor_pid == 0);
  auto ready = ConditionOf(f.Snap("sb-1"), "Ready");
  REQUIRE(ready);
  CHECK(ready->status == "False");
  CHECK(ready->reason == expected_reason);

  CHECK(f.WaitEvent("sb-1", "Warning", expected_reason));
  CHECK(f.runner.SawForceDelete(rid));
  CHECK(f.mounter.mounts().count(f.layout.rootfs(rid)) == 0);
  CHECK(f.launcher.call_count() == 1);
  f.CheckVocabulary();
}

TEST_CASE("Create: an image that cannot be prepared is ImagePullFailed", "[manager]") {
  Fixture f;
  auto& m = f.M();
  auto req = f.Req("sb-1", "alpha");
  req.spec.tmpl.image = "oci:" + f.tmp.path() + "/no-such-layout";
  REQUIRE(m.Create(req).ok());
  REQUIRE(f.WaitPhase("sb-1", phase::kFailed));
  auto rec = f.Rec("sb-1");
  CHECK(rec.reason == reason::kImagePullFailed);
  CHECK_THAT(rec.message, Catch::Contains("no-such-layout"));
  CHECK(f.WaitEvent("sb-1", "Warning", reason::kImagePullFailed));
  CHECK(f.launcher.call_count() == 0);
  CHECK(f.mounter.mount_calls() == 0);
  CHECK(ConditionOf(f.Snap("sb-1"), "Ready")->reason == reason::kImagePullFailed);
  f.CheckVocabulary();
}

TEST_CASE("Create: a failed overlay mount is ContainerCreateFailed", "[manager]") {
  Fixture f;
  f.mounter.FailMounts(absl::PermissionDeniedError("mount overlay: operation not permitted"));
  REQUIRE(f.M().Create(f.Req("sb-1", "alpha")).ok());
  REQUIRE(f.WaitPhase("sb-1", phase::kFailed));
  CHECK(f.Rec("sb-1").reason == reason::kContainerCreateFailed);
  CHECK_THAT(f.Rec("sb-1").message, Catch::Contains("operation not permitted"));
  CHECK(f.launcher.call_count() == 0);
  f.CheckVocabulary();
}

TEST_CASE("Create: the token goes to its own file and never to the record or events",
          "[manager]") {
  Fixture f;
  auto& m = f.M();
  const std::string rid = f.CreateRunning("sb-1", "alpha");
  const std::string token_file = TokenFilePath(f.layout.sandbox_dir(rid));
  CHECK(ReadAll(token_file) == "secret-token\n");
  CHECK(f.Rec("sb-1").spec_json.find("secret-token") == std::string::npos);
  // A rejected duplicate leaves no token (nor directory) behind.
  CHECK(m.Create(f.Req("sb-1", "beta")).code() == absl::StatusCode::kAlreadyExists);
  CHECK(m.Create(f.Req("sb-2", "alpha")).code() == absl::StatusCode::kAlreadyExists);
  size_t dirs = 0;
  for (const auto& d : fs::directory_iterator(f.layout.sandboxes())) {
    ++dirs;
    CHECK(d.path().filename() == rid);
  }
  CHECK(dirs == 1);
  for (const auto& e : f.log->entries()) {
    CHECK(e.event.event.message.find("secret-token") == std::string::npos);
    for (const auto& c : e.event.sandbox.status.conditions) {
      CHECK(c.message.find("secret-token") == std::string::npos);
    }
  }
  REQUIRE(m.Delete("sb-1", "").value());
  CHECK_FALSE(fs::exists(token_file));
  f.CheckVocabulary();
}

// ---- watch ---------------------------------------------------------------------

TEST_CASE("Concurrency: List Get and Watch answer while a record write waits on the disk",
          "[manager]") {
  Fixture f;
  FailingStore& store = f.FaultyStore();  // only to see the commit begin
  auto& m = f.M();
  f.CreateRunning("sb-1", "alpha");
  f.CreateRunning("sb-2", "beta");
  f.ScriptCheckpointOk(/*kill_sandbox=*/true);
  // Another connection holds SQLite's write lock, so sb-1's next commit
  // waits (busy_timeout) as it would on a slow disk.
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(f.layout.database().c_str(), &db) == SQLITE_OK);
  REQUIRE(sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
  Gate in_commit;
  store.BeforeWrite([&](const SandboxRecord&) { in_commit.Open(); });
  auto stop = std::async(std::launch::async, [&] { return m.Stop("sb-1", ""); });
  REQUIRE(in_commit.Wait());  // the stop is in its first commit
  store.BeforeWrite(nullptr);

  auto t0 = std::chrono::steady_clock::now();
  CHECK(m.List().size() == 2);
  CHECK(m.Get("sb-2", "").ok());
  CHECK(m.Watch().snapshots.size() == 2);
  CHECK(std::chrono::steady_clock::now() - t0 < milliseconds(500));
  CHECK(stop.wait_for(milliseconds(0)) == std::future_status::timeout);  // still waiting

  REQUIRE(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);
  CHECK(stop.get().ok());
  CHECK(f.Phase("sb-1") == phase::kStopped);
  f.CheckVocabulary();
}

TEST_CASE("Concurrency: a create's record insert holds no lock List Get and Watch need; its id "
          "and name are taken meanwhile",
          "[manager]") {
  Fixture f;
  FailingStore& store = f.FaultyStore();  // only to see the insert begin
  auto& m = f.M();
  f.CreateRunning("sb-1", "alpha");
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(f.layout.database().c_str(), &db) == SQLITE_OK);
  REQUIRE(sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
  Gate in_insert;
  store.BeforeWrite([&](const SandboxRecord& r) {
    if (r.id == "sb-2") in_insert.Open();
  });
  auto create = std::async(std::launch::async, [&] { return m.Create(f.Req("sb-2", "beta")); });
  REQUIRE(in_insert.Wait());  // the create is in its insert
  store.BeforeWrite(nullptr);

  auto t0 = std::chrono::steady_clock::now();
  CHECK(m.List().size() == 1);  // not listed before it is durable
  CHECK(m.Get("sb-1", "").ok());
  CHECK(m.Watch().snapshots.size() == 1);
  CHECK(std::chrono::steady_clock::now() - t0 < milliseconds(500));
  CHECK(m.Create(f.Req("sb-2", "other")).code() == absl::StatusCode::kAlreadyExists);
  CHECK(m.Create(f.Req("sb-3", "beta")).code() == absl::StatusCode::kAlreadyExists);
  CHECK(create.wait_for(milliseconds(0)) == std::future_status::timeout);  // still waiting

  REQUIRE(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);
  CHECK(create.get().ok());
  CHECK(m.List().size() == 2);
  REQUIRE(f.WaitPhase("sb-2", phase::kRunning));
  f.CheckVocabulary();
}

TEST_CASE("Watch: a new watch gets every sandbox first then later changes", "[manager]") {
  Fixture f;
  auto& m = f.M();
  f.CreateRunning("sb-1", "alpha");
  f.CreateRunning("sb-2", "beta");
  f.launcher.Block();
  REQUIRE(m.Create(f.Req("sb-3", "gamma")).ok());
  REQUIRE(f.launcher.WaitCalls(3));

  WatchStart w = m.Watch();
  REQUIRE(w.subscription);
  REQUIRE(w.snapshots.size() == 3);
  std::map<std::string, SandboxSnapshot> by_id;
  for (const auto& s : w.snapshots) by_id[s.id] = s;
  CHECK(ConditionOf(by_id.at("sb-1"), "Ready")->status == "True");
  CHECK(ConditionOf(by_id.at("sb-2"), "Ready")->status == "True");
  CHECK(ConditionOf(by_id.at("sb-3"), "Ready")->reason == reason::kStarting);
  // Nothing from before the watch is replayed on the subscription.
  WatchEvent ev;
  CHECK_FALSE(w.subscription->TryPop(&ev));

  // What happens after the snapshot arrives on the subscription.
  f.launcher.Unblock();
  REQUIRE(f.WaitPhase("sb-3", phase::kRunning));
  REQUIRE(m.Delete("sb-1", "").value());
  std::vector<WatchEvent> later;
  while (w.subscription->TryPop(&ev)) later.push_back(ev);
  bool sb3_ready = false, sb1_deleting = false, sb1_deleted = false;
  for (const auto& e : later) {
    if (e.kind == Kind::kSandbox && e.sandbox.id == "sb-3" &&
        ConditionOf(e.sandbox, "Ready")->status == "True") {
      sb3_ready = true;
    }
    if (e.kind == Kind::kSandbox && e.sandbox.id == "sb-1" && e.sandbox.status.deleting) {
      sb1_deleting = true;
    }
    if (e.kind == Kind::kDeleted && e.sandbox_id == "sb-1") {
      CHECK(sb1_deleting);  // deleting comes before deleted
      sb1_deleted = true;
    }
  }
  CHECK(sb3_ready);
  CHECK(sb1_deleting);
  CHECK(sb1_deleted);
  CHECK(m.Watch().snapshots.size() == 2);
  f.CheckVocabulary();
}

// ---- network ---------------------------------------------------------------------

TEST_CASE("Network: a networked sandbox boots in its own netns and delete tears it down", "[manager][network]") {
  Fixture f;
  f.Networked();
  const std::string rid = f.CreateRunning("sb-1", "alpha");
  CHECK(f.NetCalls() == std::vector<std::string>{"setup " + rid});

  auto spec = nlohmann::json::parse(*ReadFile(f.layout.bundle_config(rid)));
  CHECK(SpecNetnsPath(spec) == "/run/netns/" + rid);
  std::set<std::string> destinations;
  for (const auto& m : spec.at("mounts")) destinations.insert(m.at("destination"));
  CHECK(destinations.count("/etc/hosts") == 1);
  CHECK(destinations.count("/etc/resolv.conf") == 1);
  // runsc is told by the bundle, not by today's configuration.
  auto launched = f.launcher.calls().back().spec.runsc;
  CHECK(launched.network == "sandbox");
  CHECK(launched.netns_path == "/run/netns/" + rid);

  REQUIRE(f.M().Delete("sb-1", "").ok());
  CHECK(f.NetCalled("teardown " + rid));
  CHECK_FALSE(f.net.IsOurs(rid));
}

TEST_CASE("Network: a sandbox whose driver_config says network_mode none gets none", "[manager][network]") {
  Fixture f;
  f.Networked();
  auto req = f.Req("sb-1", "alpha");
  req.spec.tmpl.driver_config_json = R"({"network_mode": "none"})";
  REQUIRE(f.M().Create(req).ok());
  REQUIRE(f.WaitPhase("sb-1", phase::kRunning));
  const std::string rid = f.Rec("sb-1").runsc_id;
  CHECK(f.NetCalls().empty());
  CHECK(SpecNetnsPath(nlohmann::json::parse(*ReadFile(f.layout.bundle_config(rid)))).empty());
  CHECK(f.launcher.calls().back().spec.runsc.network == "none");
}

TEST_CASE("Network: Start puts back the address runsc stripped before restoring", "[manager][network]") {
  Fixture f;
  f.Networked();
  const std::string rid = f.CreateRunning("sb-1", "alpha");
  f.StopWithCheckpoint("sb-1");
  REQUIRE(f.M().Start("sb-1", "").ok());
  CHECK(f.NetCalls() == std::vector<std::string>{"setup " + rid, "restore " + rid});
  auto restored = f.launcher.calls().back().spec;
  CHECK_FALSE(restored.restore_image_dir.empty());
  CHECK(restored.runsc.network == "sandbox");
}

TEST_CASE("Network: a failed create gives its address back", "[manager][network]") {
  Fixture f;
  f.Networked();
  f.launcher.FailWith(absl::InternalError("runsc create: boom"));
  REQUIRE(f.M().Create(f.Req("sb-1", "alpha")).ok());
  REQUIRE(f.WaitPhase("sb-1", phase::kFailed));
  const std::string rid = f.Rec("sb-1").runsc_id;
  CHECK(f.NetCalls() == std::vector<std::string>{"setup " + rid, "teardown " + rid});
}

TEST_CASE("Network: recovery tears down networks that have no sandbox record", "[manager][network]") {
  Fixture f;
  f.Networked();
  auto r = f.Prefill("sb-1", "alpha", phase::kStopped, reason::kCheckpointed);
  REQUIRE(f.net.Setup(r.runsc_id, "alpha").ok());
  const std::string orphan = f.NewId();
  REQUIRE(f.net.Setup(orphan, "").ok());
  REQUIRE(f.M().Recover().ok());
  CHECK(f.NetCalled("teardown " + orphan));
  CHECK_FALSE(f.NetCalled("teardown " + r.runsc_id));
  CHECK(f.net.IsOurs(r.runsc_id));
}

// ---- exit ----------------------------------------------------------------------

TEST_CASE("Exit: a process that dies at start-up has its last output in the message", "[manager]") {
  Fixture f;
  const std::string rid = f.CreateRunning("sb-1", "alpha");
  {
    std::ofstream console(f.layout.console_log(rid), std::ios::app);
    console << "starting supervisor\nfatal: gateway unreachable: connection refused\n";
  }
  REQUIRE(f.launcher.Exit(rid, 1) > 0);
  REQUIRE(f.WaitPhase("sb-1", phase::kExited));
  auto ready = ConditionOf(f.Snap("sb-1"), "Ready");
  CHECK(ready->reason == reason::kProcessExited);
  CHECK(ready->message ==
        "main process exited with code 1; last output: starting supervisor | "
        "fatal: gateway unreachable: connection refused");
}

TEST_CASE("Exit: the monitor's exit file gives ProcessExited with the code", "[manager]") {
  Fixture f;
  const std::string rid = f.CreateRunning("sb-1", "alpha");
  REQUIRE(f.launcher.Exit(rid, 3) > 0);
  REQUIRE(f.WaitPhase("sb-1", phase::kExited));
  auto rec = f.Rec("sb-1");
  CHECK(rec.reason == reason::kProcessExited);
  CHECK(rec.exit_code == 3);
  CHECK(rec.message == "main process exited with code 3");
  CHECK(rec.monitor_pid == 0);
  auto ready = ConditionOf(f.Snap("sb-1"), "Ready");
  CHECK(ready->status == "False");
  CHECK(ready->reason == reason::kProcessExited);
  CHECK(f.WaitEvent("sb-1", "Warning", reason::kProcessExited));
  CHECK(f.runner.SawForceDelete(rid));
  CHECK(f.mounter.mounts().count(f.layout.rootfs(rid)) == 0);
  // The sandbox's files stay until Delete.
  CHECK(fs::exists(f.layout.exit_file(rid)));
  f.CheckVocabulary();
}

TEST_CASE("Exit: a signal exit code is described as a signal", "[manager]") {
  Fixture f;
  const std::string rid = f.CreateRunning("sb-1", "alpha");
  f.launcher.Exit(rid, 128 + 9);
  REQUIRE(f.WaitPhase("sb-1", phase::kExited));
  CHECK(f.Rec("sb-1").exit_code == 137);
  CHECK_THAT(f.Rec("sb-1").message, Catch::Contains("killed by signal 9"));
  f.CheckVocabulary();
}

TEST_CASE("Exit: a sandbox killed by the host OOM killer is OOMKilled", "[manager]") {
  Fixture f;
  const std::string rid = f.CreateRunning("sb-1", "alpha");
  const std::string cg = f.cgroup_root + SandboxCgroupPath(rid);
  fs::create_directories(cg);
  WriteAll(cg + "/memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n");
  f.launcher.Exit(rid, 128 + 9);
  REQUIRE(f.WaitPhase("sb-1", phase::kExited));
  auto rec = f.Rec("sb-1");
  CHECK(rec.reason == reason::kOOMKilled);
  CHECK(rec.exit_code == 137);
  CHECK_THAT(rec.message, Catch::Contains("ran out of memory"));
  CHECK(ConditionOf(f.Snap("sb-1"), "Ready")->reason == reason::kOOMKilled);
  CHECK(f.WaitEvent("sb-1", "Warning", reason::kOOMKilled));
  f.CheckVocabulary();
}

TEST_CASE("Exit: a monitor gone without an exit file reports the code lost", "[manager]") {
  Fixture f;
  const std::string rid = f.CreateRunning("sb-1", "alpha");
  f.launcher.Exit(rid, std::nullopt);
  REQUIRE(f.WaitPhase("sb-1", phase::kExited));
  auto rec = f.Rec("sb-1");
  CHECK(rec.reason == reason::kProcessExited);
  CHECK_FALSE(rec.exit_code.has_value());
  CHECK_THAT(rec.message, Catch::Contains("lost"));
  CHECK(f.WaitEvent("sb-1", "Warning", reason::kProcessExited));
  f.CheckVocabulary();
}

TEST_CASE("Exit: a late exit report of an earlier incarnation is ignored", "[manager]") {
  Fixture f;
  auto& m = f.M();
  const std::string rid = f.CreateRunning("sb-1", "alpha");
  const int first = f.launcher.PidOf(rid);
  // Checkpoint without ending the first monitor, then restore: a second
  // monitor runs while the first one is still about to report.
  f.ScriptCheckpointOk(/*kill_sandbox=*/false);
  REQUIRE(m.Stop("sb-1", "").ok());
  REQUIRE(m.Start("sb-1", "").ok());
  REQUIRE(f.Phase("sb-1") == phase::kRunning);
  const int second = f.launcher.PidOf(rid);
  REQUIRE(second > 0);
  REQUIRE(second != first);
  CHECK(f.Rec("sb-1").monitor_pid == second);

  kill(first, SIGKILL);
  REQUIRE(WaitGone(first));  // reaped by the exit watcher: it was reported
  f.SettleExits();
  f.DrainQueue("sb-1");  // after the late report's handling
  CHECK(f.Phase("sb-1") == phase::kRunning);
  CHECK_FALSE(f.log->HasPlatformEvent("sb-1", "Warning", reason::kProcessExited));

  // The current incarnation's exit still counts.
  f.launcher.Exit(rid, 7);
  REQUIRE(f.WaitPhase("sb-1", phase::kExited));
  CHECK(f.Rec("sb-1").exit_code == 7);
  f.CheckVocabulary();
}

// ---- stop / start ----------------------------------------------------------------

TEST_CASE("Stop/Start/Delete: unknown ids and missing id and name", "[manager]") {
  Fixture f;
  auto& m = f.M();
  f.CreateRunning("sb-1", "alpha");
  CHECK(m.Stop("nope", "").code() == absl::StatusCode::kNotFound);
  CHECK(m.Start("nope", "").code() == absl::StatusCode::kNotFound);
  CHECK(m.Stop("", "no-such-name").code() == absl::StatusCode::kNotFound);
  CHECK(m.Get("nope", "").status().code() == absl::StatusCode::kNotFound);
  CHECK(m.Stop("", "").code() == absl::StatusCode::kInvalidArgument);
  CHECK(m.Start("", "").code() == absl::StatusCode::kInvalidArgument);
  CHECK(m.Get("", "").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(m.Delete("", "").status().code() == absl::StatusCode::kInvalidArgument);
  auto absent = m.Delete("nope", "");
  REQUIRE(absent.ok());
  CHECK_FALSE(*absent);
  // Lookup by name works too.
  CHECK(m.Get("", "alpha")->id == "sb-1");
  CHECK(f.Phase("sb-1") == phase::kRunning);
  f.CheckVocabulary();
}

TEST_CASE("Stop while provisioning waits for provisioning then checkpoints", "[manager]") {
  // Observed behaviour: Stop takes the sandbox's operation lock, which
  // provisioning holds, so it waits rather than failing FAILED_PRECONDITION.
  Fixture f;
  auto& m = f.M();
  f.launcher.Block();
  REQUIRE(m.Create(f.Req("sb-1", "alpha")).ok());
  REQUIRE(f.launcher.WaitCalls(1));
  f.ScriptCheckpointOk(/*kill_sandbox=*/true);

  auto stop = std::async(std::launch::async, [&] { return m.Stop("sb-1", ""); });
  CHECK(stop.wait_for(milliseconds(300)) == std::future_status::timeout);
  CHECK(f.Phase("sb-1") == phase::kProvisioning);
  CHECK(f.runner.CountOf("checkpoint") == 0);
  f.launcher.Unblock();
  absl::Status st = stop.get();
  CHECK(st.ok());
  CHECK(f.Phase("sb-1") == phase::kStopped);
  CHECK(f.runner.CountOf("checkpoint") == 1);
  f.CheckVocabulary();
}

TEST_CASE("Stop and Start of exited or failed sandboxes are FAILED_PRECONDITION", "[manager]") {
  Fixture f;
  auto& m = f.M();
  const std::string rid = f.CreateRunning("sb-1", "alpha");
  f.launcher.Exit(rid, 0);
  REQUIRE(f.WaitPhase("sb-1", phase::kExited));
  f.launcher.FailWith(absl::InternalError("runsc start: boom"));
  REQUIRE(m.Create(f.Req("sb-2", "beta")).ok());
  REQUIRE(f.WaitPhase("sb-2", phase::kFailed));
  const size_t launches = f.launcher.call_count();

  for (const char* id : {"sb-1", "sb-2"}) {
    INFO(id);
    absl::Status stop = m.Stop(id, "");
    CHECK(stop.code() == absl::StatusCode::kFailedPrecondition);
    CHECK_THAT(Msg(stop), Catch::Contains(id));
    CHECK(m.Start(id, "").code() == absl::StatusCode::kFailedPrecondition);
  }
  CHECK(f.Phase("sb-1") == phase::kExited);
  CHECK(f.Phase("sb-2") == phase::kFailed);
  CHECK(f.launcher.call_count() == launches);
  CHECK(f.runner.CountOf("checkpoint") == 0);
  f.CheckVocabulary();
}

TEST_CASE("Start of a running sandbox and Stop of a stopped one are OK no-ops", "[manager]") {
  Fixture f;
  auto& m = f.M();
  f.CreateRunning("sb-1", "alpha");
  auto before = f.Rec("sb-1");
  size_t snaps = f.log->Snapshots("sb-1").size();
  CHECK(m.Start("sb-1", "").ok());
  CHECK(m.Start("", "alpha").ok());
  CHECK(f.Rec("sb-1") == before);
  CHECK(f.log->Snapshots("sb-1").size() == snaps);
  CHECK(f.launcher.call_count() == 1);

  f.StopWithCheckpoint("sb-1");
  auto stopped = f.Rec("sb-1");
  snaps = f.log->Snapshots("sb-1").size();
  CHECK(m.Stop("sb-1", "").ok());
  CHECK(m.Stop("", "alpha").ok());
  CHECK(f.Rec("sb-1") == stopped);
  CHECK(f.log->Snapshots("sb-1").size() == snaps);
  CHECK(f.runner.CountOf("checkpoint") == 1);
  f.CheckVocabulary();
}

TEST_CASE("Start of a sandbox still provisioning is OK", "[manager]") {
  Fixture f;
  auto& m = f.M();
  f.launcher.Block();
  REQUIRE(m.Create(f.Req("sb-1", "alpha")).ok());
  REQUIRE(f.launcher.WaitCalls(1));
  auto start = std::async(std::launch::async, [&] { return m.Start("sb-1", ""); });
  f.launcher.Unblock();
  CHECK(start.get().ok());
  REQUIRE(f.WaitPhase("sb-1", phase::kRunning));
  CHECK(f.launcher.call_count() == 1);
  f.CheckVocabulary();
}

TEST_CASE("Stop: a successful checkpoint leaves the sandbox stopped with its image",
          "[manager]") {
  Fixture f;
  auto& m = f.M();
  const std::string rid = f.CreateRunning("sb-1", "alpha");
  const int monitor = f.launcher.PidOf(rid);
  f.ScriptCheckpointOk(/*kill_sandbox=*/true);
  REQUIRE(m.Stop("sb-1", "").ok());

  auto rec = f.Rec("sb-1");
  CHECK(rec.phase == phase::kStopped);
  CHECK(rec.reason == reason::kCheckpointed);
  CHECK(rec.monitor_pid == 0);
  CHECK_THAT(rec.message, Catch::StartsWith("Memory checkpointed"));
  REQUIRE(!rec.checkpoint_json.empty());
  auto image = CheckpointFromJson(rec.checkpoint_json);
  REQUIRE(image.ok());
  const std::string root = f.CheckpointRoot(rid);
  CHECK(image->dir == root + "/image");
  CHECK(image->files.count("checkpoint.img") == 1);
  CHECK(image->compression == "flate");
  CHECK(VerifyCheckpoint(*image).ok());
  CHECK(f.TmpDirsIn(root).empty());

  // runsc was asked to write into a temporary dir under the root.
  auto cps = f.runner.CommandsFor("checkpoint", rid);
  REQUIRE(cps.size() == 1);
  CHECK_THAT(HookedRunner::FlagValue(cps[0], "--image-path"), Catch::StartsWith(root + "/tmp-"));

  // The gateway sees Suspended=True and nothing else.
  auto snap = f.Snap("sb-1");
  REQUIRE(snap.status.conditions.size() == 1);
  CHECK(snap.status.conditions[0].type == "Suspended");
  CHECK(snap.status.conditions[0].status == "True");
  CHECK(snap.status.conditions[0].reason == reason::kCheckpointed);
  CHECK_FALSE(ConditionOf(snap, "Ready"));

  // The container and the overlay go right after Stop returned.
  CHECK(Eventually([&] {
    return f.runner.SawForceDelete(rid) && f.mounter.mounts().count(f.layout.rootfs(rid)) == 0;
  }));
  bool checkpointed_event = false;
  for (const auto& p : f.log->PlatformEvents("sb-1")) {
    if (p.reason == reason::kCheckpointed) {
      checkpointed_event = true;
      CHECK(p.type == "Normal");
      CHECK(p.metadata.at("openshell.gvisor.checkpoint_bytes") == std::to_string(image->bytes));
    }
  }
  CHECK(checkpointed_event);
  // The phase went through stopping (still Ready=True).
  bool saw_stopping = false;
  for (const auto& e : f.log->entries()) saw_stopping |= e.phase == phase::kStopping;
  CHECK(saw_stopping);

  // The sandbox's exit after the checkpoint is not an exit.
  REQUIRE(WaitGone(monitor));
  f.SettleExits();
  f.DrainQueue("sb-1");  // after the exit's handling
  CHECK(f.Phase("sb-1") == phase::kStopped);
  CHECK_FALSE(f.log->HasPlatformEvent("sb-1", "Warning", reason::kProcessExited));
  f.CheckVocabulary();
}

TEST_CASE("Stop: returns before the reap and the release waits for the monitor to end",
          "[manager]") {
  Fixture f;
  const std::string rid = f.CreateRunning("sb-1", "alpha");
  // A monitor still reaping the checkpointed sandbox: recognised by its
  // directory and argv, it ends when the test says so.
  ChildProcess reaping({"sh", "-c", "sleep 100000; :", "monitor"}, f.layout.sandbox_dir(rid));
  REQUIRE(WriteFileAtomic(f.layout.sandbox_dir(rid) + "/monitor.pid",
                          std::to_string(reaping.pid()) + "\n", 0600)
              .ok());
  // Until it has exec'd, its argv and cwd are still the test's.
  REQUIRE(Eventually([&] { return IsMonitorOf(reaping.pid(), f.layout.sandbox_dir(rid)); }));
  f.ScriptCheckpointOk(/*kill_sandbox=*/false);
  REQUIRE(f.M().Stop("sb-1", "").ok());
  CHECK(f.Phase("sb-1") == phase::kStopped);

  // The monitor could still write an exit record: the release waits for it
  // to end, and nothing is released yet.
  REQUIRE(Eventually([&] { return Fixture::SomeoneWaitsFor(reaping.pid()); }));
  CHECK_FALSE(f.runner.SawForceDelete(rid));
  CHECK(f.mounter.mounts().count(f.layout.rootfs(rid)) == 1);

  reaping.Kill();
  CHECK(Eventually([&] {
    return f.runner.SawForceDelete(rid) && f.mounter.mounts().count(f.layout.rootfs(rid)) == 0;
  }));
  CHECK(f.Phase("sb-1") == phase::kStopped);
  f.CheckVocabulary();
}

TEST_CASE("Stop: a failed checkpoint of a still-running sandbox rolls back", "[manager]") {
  Fixture f;
  auto& m = f.M();
  const std::string rid = f.CreateRunning("sb-1", "alpha");
  const int monitor = f.launcher.PidOf(rid);
  f.ScriptCheckpointFails("checkpoint: boom\n");
  f.runner.Script("state", FakeRunner::Ok(HookedRunner::StateJson(rid, "running", monitor)));

  absl::Status st = m.Stop("sb-1", "");
  CHECK(st.code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(Msg(st), Catch::Contains("boom") && Catch::Contains("keeps running"));
  auto rec = f.Rec("sb-1");
  CHECK(rec.phase == phase::kRunning);
  CHECK(rec.reason == reason::kBackendReady);
  CHECK(rec.checkpoint_json.empty());
  CHECK(f.TmpDirsIn(f.CheckpointRoot(rid)).empty());  // the half image is gone
  CHECK_FALSE(fs::exists(f.CheckpointRoot(rid) + "/image"));
  CHECK_FALSE(f.runner.SawForceDelete(rid));
  CHECK(f.mounter.mounts().count(f.layout.rootfs(rid)) == 1);
  CHECK(kill(monitor, 0) == 0);
  CHECK(ConditionOf(f.Snap("sb-1"), "Ready")->status == "True");
  bool saw_stopping = false;
  for (const auto& e : f.log->entries()) saw_stopping |= e.phase == phase::kStopping;
  CHECK(saw_stopping);

  // It is still a working sandbox: its exit is observed.
  f.launcher.Exit(rid, 1);
  REQUIRE(f.WaitPhase("sb-1", phase::kExited));
  f.CheckVocabulary();
}

TEST_CASE("Stop: a failed checkpoint of a sandbox that died stops it without memory",
          "[manager]") {
  Fixture f;
  auto& m = f.M();
  const std::string rid = f.CreateRunning("sb-1", "alpha");
  f.ScriptCheckpointFails("checkpoint: sandbox killed\n");
  SECTION("state says stopped") {
    f.runner.Script("state", FakeRunner::Ok(HookedRunner::StateJson(rid, "stopped", 0)));
  }
  SECTION("state says the container is gone") {
    f.runner.Script("state", HookedRunner::NoSuchContainer(rid));
  }
  REQUIRE(m.Stop("sb-1", "").ok());
  auto rec = f.Rec("sb-1");
  CHECK(rec.phase == phase::kStopped);
  CHECK(rec.reason == reason::kStoppedWithoutMemory);
  CHECK(rec.checkpoint_json.empty());
  CHECK_THAT(rec.message, Catch::Contains("sandbox killed") && Catch::Contains("cold"));
  auto snap = f.Snap("sb-1");
  REQUIRE(snap.status.conditions.size() == 1);
  CHECK(snap.status.conditions[0].type == "Suspended");
  CHECK(snap.status.conditions[0].reason == reason::kStoppedWithoutMemory);
  CHECK(f.WaitEvent("sb-1", "Warning", reason::kStoppedWithoutMemory));
  CHECK(f.runner.SawForceDelete(rid));
  CHECK(f.TmpDirsIn(f.CheckpointRoot(rid)).empty());

  // Start boots it cold.
  REQUIRE(m.Start("sb-1", "").ok());
  CHECK(f.Phase("sb-1") == phase::kRunning);
  auto calls = f.launcher.calls();
  REQUIRE(calls.size() == 2);
  CHECK(calls[1].spec.restore_image_dir.empty());
  CHECK_THAT(f.Rec("sb-1").message,
             Catch::Contains("booted cold") && Catch::Contains("no memory checkpoint"));
  CHECK(f.WaitEvent("sb-1", "Warning", "ColdStart"));
  f.CheckVocabulary();
}

TEST_CASE("Start: a valid image is restored then removed", "[manager]") {
  Fixture f;
  auto& m = f.M();
  const std::string rid = f.CreateRunning("sb-1", "alpha");
  CheckpointImage image = f.StopWithCheckpoint("sb-1");
  REQUIRE(fs::exists(image.dir));

  REQUIRE(m.Start("sb-1", "").ok());
  auto calls = f.launcher.calls();
  REQUIRE(calls.size() == 2);
  CHECK(calls[1].spec.restore_image_dir == image.dir);
  CHECK(calls[1].spec.container_id == rid);
  auto rec = f.Rec("sb-1");
  CHECK(rec.phase == phase::kRunning);
  CHECK(rec.reason == reason::kBackendReady);
  CHECK(rec.message == "Sandbox restored from its checkpoint");
  CHECK(rec.checkpoint_json.empty());
  CHECK(rec.monitor_pid == f.launcher.PidOf(rid));
  // Removed after Start returned, off its path.
  CHECK(Eventually([&] { return !fs::exists(image.dir); }));
  CHECK(f.mounter.mounts().count(f.layout.rootfs(rid)) == 1);
  CHECK(f.WaitEvent("sb-1", "Normal", "Restored"));
  CHECK_FALSE(f.log->HasPlatformEvent("sb-1", "Warning", "ColdStart"));
  bool saw_starting = false;
  for (const auto& e : f.log->entries()) saw_starting |= e.phase == phase::kStarting;
  CHECK(saw_starting);
  CHECK(ConditionOf(f.Snap("sb-1"), "Ready")->status == "True");
  f.CheckVocabulary();
}

TEST_CASE("Start: a corrupted image is never restored; the sandbox boots cold", "[manager]") {
  Fixture f;
  auto& m = f.M();
  f.CreateRunning("sb-1", "alpha");
  CheckpointImage image = f.StopWithCheckpoint("sb-1");
  SECTION("a file's content changed") {
    WriteAll(image.dir + "/checkpoint.img", "flipped bits");
  }
  SECTION("a file is missing") {
    fs::remove(image.dir + "/checkpoint.img");
  }

  REQUIRE(m.Start("sb-1", "").ok());
  auto calls = f.launcher.calls();
  REQUIRE(calls.size() == 2);
  CHECK(calls[1].spec.restore_image_dir.empty());
  auto rec = f.Rec("sb-1");
  CHECK(rec.phase == phase::kRunning);
  CHECK_THAT(rec.message, Catch::Contains("booted cold") && Catch::Contains("unusable"));
  CHECK(rec.checkpoint_json.empty());
  CHECK(f.WaitEvent("sb-1", "Warning", "ColdStart"));
  f.CheckVocabulary();
}

TEST_CASE("Start: a failed restore falls back to a cold boot", "[manager]") {
  Fixture f;
  auto& m = f.M();
  const std::string rid = f.CreateRunning("sb-1", "alpha");
  CheckpointImage image = f.StopWithCheckpoint("sb-1");
  f.launcher.FailNext(absl::InternalError("runsc restore: exit code 1: bad image"));

  REQUIRE(m.Start("sb-1", "").ok());
  auto calls = f.launcher.calls();
  REQUIRE(calls.size() == 3);
  CHECK(calls[1].spec.restore_image_dir == image.dir);
  CHECK(calls[2].spec.restore_image_dir.empty());
  auto rec = f.Rec("sb-1");
  CHECK(rec.phase == phase::kRunning);
  CHECK_THAT(rec.message, Catch::Contains("booted cold") &&
                              Catch::Contains("restoring its checkpoint failed") &&
                              Catch::Contains("bad image"));
  CHECK(rec.checkpoint_json.empty());
  CHECK_FALSE(fs::exists(image.dir));
  CHECK(f.mounter.mounts().count(f.layout.rootfs(rid)) == 1);
  CHECK(f.WaitEvent("sb-1", "Warning", "ColdStart"));
  f.CheckVocabulary();
}

TEST_CASE("Start: when no boot works the sandbox stays stopped with its image", "[manager]") {
  Fixture f;
  auto& m = f.M();
  f.CreateRunning("sb-1", "alpha");
  CheckpointImage image = f.StopWithCheckpoint("sb-1");
  f.launcher.FailWith(absl::InternalError("runsc: cannot start"));

  absl::Status st = m.Start("sb-1", "");
  CHECK_FALSE(st.ok());
  CHECK_THAT(Msg(st), Catch::Contains("runsc: cannot start"));
  auto rec = f.Rec("sb-1");
  CHECK(rec.phase == phase::kStopped);
  CHECK_FALSE(rec.checkpoint_json.empty());
  CHECK(VerifyCheckpoint(image).ok());  // kept, so Start can be retried
  CHECK(ConditionOf(f.Snap("sb-1"), "Suspended")->status == "True");

  f.launcher.FailWith(absl::OkStatus());
  REQUIRE(m.Start("sb-1", "").ok());
  CHECK(f.launcher.calls().back().spec.restore_image_dir == image.dir);
  CHECK(f.Phase("sb-1") == phase::kRunning);
  f.CheckVocabulary();
}

TEST_CASE("Start: an uncompressed image is restored through a gate while it is verified",
          "[manager][gate]") {
  Fixture f;
  const std::string rid = f.CreateRunning("sb-1", "alpha");
  CheckpointImage image = f.StopWithPagedCheckpoint("sb-1");
  std::atomic<int> restores{0};
  f.RestoreLikeRunsc(image, &restores);

  REQUIRE(f.M().Start("sb-1", "").ok());
  auto calls = f.launcher.calls();
  REQUIRE(calls.size() == 2);
  const std::string view = f.CheckpointRoot(rid) + "/restore-view";
  CHECK(calls[1].spec.restore_image_dir == view);
  CHECK(restores == 1);
  auto rec = f.Rec("sb-1");
  CHECK(rec.phase == phase::kRunning);
  CHECK(rec.message == "Sandbox restored from its checkpoint");
  CHECK_FALSE(fs::exists(view));
  CHECK(Eventually([&] { return !fs::exists(image.dir); }));
  CHECK(f.WaitEvent("sb-1", "Normal", "Restored"));
  f.CheckVocabulary();
}

TEST_CASE("Start: a gated image that does not match never finishes restoring; it boots cold",
          "[manager][gate]") {
  Fixture f;
  const std::string rid = f.CreateRunning("sb-1", "alpha");
  CheckpointImage image = f.StopWithPagedCheckpoint("sb-1");
  std::atomic<int> restores{0};
  f.RestoreLikeRunsc(image, &restores);
  size_t launches = 0;
  std::string bad_file;
  SECTION("its pages, found while runsc reads") {
    WriteAll(image.dir + "/pages.img", "flipped bits");
    bad_file = "pages.img";
    launches = 3;  // the restore that could not finish, then the cold boot
  }
  SECTION("its metadata, found before runsc starts") {
    WriteAll(image.dir + "/pages_meta.img", "meta:other");
    bad_file = "pages_meta.img";
    launches = 2;  // the cold boot only
  }

  REQUIRE(f.M().Start("sb-1", "").ok());
  CHECK(restores == 0);
  auto calls = f.launcher.calls();
  REQUIRE(calls.size() == launches);
  CHECK(calls.back().spec.restore_image_dir.empty());
  auto rec = f.Rec("sb-1");
  CHECK(rec.phase == phase::kRunning);
  CHECK_THAT(rec.message, Catch::Contains("booted cold") && Catch::Contains("unusable") &&
                              Catch::Contains(bad_file));
  CHECK_FALSE(fs::exists(f.CheckpointRoot(rid) + "/restore-view"));
  CHECK(f.WaitEvent("sb-1", "Warning", "ColdStart"));
  for (const auto& p : f.log->PlatformEvents("sb-1")) {
    if (p.reason == "ColdStart") {
      CHECK(p.metadata.at("openshell.gvisor.cold_start_reason") == "checkpoint_unusable");
    }
  }
  f.CheckVocabulary();
}

TEST_CASE("Start: a restore that finishes before a failed verification is never reported running",
          "[manager][gate]") {
  Fixture f;
  const std::string rid = f.CreateRunning("sb-1", "alpha");
  CheckpointImage image = f.StopWithPagedCheckpoint("sb-1");
  WriteAll(image.dir + "/pages.img", "flipped bits");
  // A runsc that would not wait for the whole of pages_meta.img.
  f.launcher.OnRestore([](const MonitorSpec&) { return absl::OkStatus(); });

  REQUIRE(f.M().Start("sb-1", "").ok());
  auto calls = f.launcher.calls();
  REQUIRE(calls.size() == 3);
  CHECK(calls.back().spec.restore_image_dir.empty());
  CHECK(f.runner.SawForceDelete(rid));  // the restored sandbox was removed
  CHECK_THAT(f.Rec("sb-1").message, Catch::Contains("booted cold") && Catch::Contains("pages.img"));
  for (const auto& e : f.log->entries()) {
    if (e.event.kind == Kind::kSandbox && e.event.sandbox.id == "sb-1") {
      for (const auto& c : e.event.sandbox.status.conditions) {
        CHECK(c.message != "Sandbox restored from its checkpoint");
      }
    }
  }
  CHECK_FALSE(f.log->HasPlatformEvent("sb-1", "Normal", "Restored"));
  f.CheckVocabulary();
}

TEST_CASE("Delete: a stopped sandbox loses its checkpoint and its files", "[manager]") {
  Fixture f;
  auto& m = f.M();
  const std::string rid = f.CreateRunning("sb-1", "alpha");
  CheckpointImage image = f.StopWithCheckpoint("sb-1");
  REQUIRE(fs::exists(f.CheckpointRoot(rid)));
  REQUIRE(fs::exists(f.layout.sandbox_dir(rid)));

  auto deleted = m.Delete("sb-1", "");
  REQUIRE(deleted.ok());
  CHECK(*deleted);
  CHECK_FALSE(fs::exists(image.dir));
  CHECK_FALSE(fs::exists(f.CheckpointRoot(rid)));
  CHECK_FALSE(fs::exists(f.layout.sandbox_dir(rid)));
  CHECK_FALSE(f.HasRecord("sb-1"));
  CHECK(f.log->HasDeleted("sb-1"));
  CHECK(m.Get("sb-1", "").status().code() == absl::StatusCode::kNotFound);
  CHECK(m.List().empty());
  auto again = m.Delete("sb-1", "");
  REQUIRE(again.ok());
  CHECK_FALSE(*again);
  f.CheckVocabulary();
}

TEST_CASE("Delete: a running sandbox is torn down and its exit is not reported", "[manager]") {
  Fixture f;
  auto& m = f.M();
  const std::string rid = f.CreateRunning("sb-1", "alpha");
  // runsc delete --force ends the sandbox, as the real one does.
  f.runner.OnRun("delete", [&](const Command& c, const absl::StatusOr<CommandResult>&) {
    f.launcher.Exit(c.argv.back(), std::nullopt);
  });
  auto deleted = m.Delete("", "alpha");
  REQUIRE(deleted.ok());
  CHECK(*deleted);
  CHECK(f.runner.SawForceDelete(rid));
  CHECK(f.mounter.mounts().empty());
  CHECK_FALSE(fs::exists(f.layout.sandbox_dir(rid)));
  CHECK(f.log->HasDeleted("sb-1"));
  // Its exit has been reported and queued; a new sandbox of the same id
  // queues behind it, so once that runs the report has been handled.
  f.SettleExits();
  REQUIRE(m.Create(f.Req("sb-1", "alpha")).ok());
  REQUIRE(f.WaitPhase("sb-1", phase::kRunning));
  CHECK_FALSE(f.log->HasPlatformEvent("sb-1", "Warning", reason::kProcessExited));
  f.CheckVocabulary();
}

TEST_CASE("Delete: a late exit of the deleted sandbox's monitor is not taken for the same id "
          "created again",
          "[manager]") {
  Fixture f;
  auto& m = f.M();
  const std::string old_rid = f.CreateRunning("sb-1", "alpha");
  // No runsc delete hook: the old monitor outlives the Delete.
  const int old_monitor = f.launcher.PidOf(old_rid);
  REQUIRE(old_monitor > 0);
  REQUIRE(m.Delete("sb-1", "").ok());
  f.CreateRunning("sb-1", "alpha");
  // Now the old monitor ends: its report names sb-1, which runs again.
  REQUIRE(kill(old_monitor, SIGKILL) == 0);
  f.SettleExits();
  f.DrainQueue("sb-1");  // the report has been handled
  CHECK(f.Phase("sb-1") == phase::kRunning);
  CHECK_FALSE(f.log->HasPlatformEvent("sb-1", "Warning", reason::kProcessExited));
  f.CheckVocabulary();
}

// ---- idle suspend and token hint ---------------------------------------------------

TEST_CASE("Idle suspend: an idle sandbox is checkpointed but a busy one is not", "[manager]") {
  Fixture f;
  f.config.checkpoint.idle_suspend_after = milliseconds(1000);  // ticks of 500 ms
  auto& m = f.M();
  const std::string idle = f.CreateRunning("sb-1", "alpha");
  const std::string busy = f.CreateRunning("sb-2", "beta");
  f.CreateRunning("sb-3", "gamma");  // no readable cgroup: never judged idle
  auto cpu_file = [&](const std::string& rid) {
    std::string dir = f.cgroup_root + "/cpuacct" + SandboxCgroupPath(rid);
    fs::create_directories(dir);
    return dir + "/cpuacct.usage";
  };
  WriteAll(cpu_file(idle), "1000000\n");
  uint64_t busy_ns = 0;
  // Every tick the busy one has used 100 ms of CPU: far above 5% of a core.
  auto tick = [&] {
    busy_ns += 100000000;
    WriteAll(cpu_file(busy), std::to_string(busy_ns) + "\n");
    return f.ticker.Tick();
  };
  f.ScriptCheckpointOk(/*kill_sandbox=*/true);
  m.StartIdleSuspend();

  // Seen at 0.5 s, idle since; idle for 1 s at 1.5 s.
  for (int i = 0; i < 3; ++i) REQUIRE(tick());
  REQUIRE(f.WaitPhase("sb-1", phase::kStopped));
  // Two more ticks: the busy one had every chance to be (wrongly) suspended.
  REQUIRE(tick());
  REQUIRE(tick());
  f.DrainQueue("sb-2");  // a suspend queued by those ticks has run
  f.DrainQueue("sb-3");
  auto rec = f.Rec("sb-1");
  CHECK(rec.reason == reason::kCheckpointed);
  CHECK_THAT(rec.message, Catch::StartsWith("Suspended by the driver after 1 s without CPU use") &&
                              Catch::Contains("Memory checkpointed"));
  CHECK_FALSE(rec.checkpoint_json.empty());
  CHECK(ConditionOf(f.Snap("sb-1"), "Suspended")->status == "True");
  CHECK(f.Phase("sb-2") == phase::kRunning);
  CHECK(f.Phase("sb-3") == phase::kRunning);
  CHECK(f.runner.CommandsFor("checkpoint", busy).empty());

  // It restores like any stopped sandbox.
  REQUIRE(m.Start("sb-1", "").ok());
  CHECK_FALSE(f.launcher.calls().back().spec.restore_image_dir.empty());
  f.CheckVocabulary();
}

TEST_CASE("Idle suspend is off by default", "[manager]") {
  Fixture f;
  auto& m = f.M();
  const std::string rid = f.CreateRunning("sb-1", "alpha");
  std::string dir = f.cgroup_root + "/cpuacct" + SandboxCgroupPath(rid);
  fs::create_directories(dir);
  WriteAll(dir + "/cpuacct.usage", "1\n");
  f.ScriptCheckpointOk(/*kill_sandbox=*/true);
  m.StartIdleSuspend();
  REQUIRE(m.Shutdown());  // joins the idle loop, had one been started
  // A started loop waits for its first tick before anything else.
  CHECK(f.ticker.waits() == 0);
  CHECK(f.Phase("sb-1") == phase::kRunning);
  CHECK(f.runner.CountOf("checkpoint") == 0);
  f.CheckVocabulary();
}

TEST_CASE("Start warns when the sandbox is older than checkpoint.token_ttl_hint", "[manager]") {
  Fixture f;
  f.config.checkpoint.token_ttl_hint = milliseconds(1);
  auto& m = f.M();
  f.CreateRunning("sb-1", "alpha");
  f.StopWithCheckpoint("sb-1");
  std::this_thread::sleep_for(milliseconds(20));
  REQUIRE(m.Start("sb-1", "").ok());
  CHECK(f.WaitEvent("sb-1", "Warning", "TokenMayBeExpired"));
  CHECK(f.Phase("sb-1") == phase::kRunning);
  f.CheckVocabulary();
}

// ---- recovery --------------------------------------------------------------------

TEST_CASE("Recover: running with an exit file becomes exited with its code", "[manager]") {
  Fixture f;
  auto r = f.Prefill("sb-1", "alpha", phase::kRunning, reason::kBackendReady);
  f.WriteExit(r.runsc_id, 5);
  REQUIRE(f.M().Recover().ok());
  auto rec = f.Rec("sb-1");
  CHECK(rec.phase == phase::kExited);
  CHECK(rec.reason == reason::kProcessExited);
  CHECK(rec.exit_code == 5);
  CHECK_THAT(rec.message, Catch::Contains("code 5") && Catch::Contains("while the driver was down"));
  CHECK(f.runner.SawForceDelete(r.runsc_id));
  CHECK(fs::exists(f.layout.sandbox_dir(r.runsc_id)));  // kept until Delete
  f.CheckVocabulary();
}

TEST_CASE("Recover: running with its container missing is SandboxLost", "[manager]") {
  Fixture f;
  auto r = f.Prefill("sb-1", "alpha", phase::kRunning, reason::kBackendReady);
  REQUIRE(f.M().Recover().ok());
  auto rec = f.Rec("sb-1");
  CHECK(rec.phase == phase::kFailed);
  CHECK(rec.reason == reason::kSandboxLost);
  CHECK_THAT(rec.message, Catch::Contains("disappeared"));
  CHECK(f.WaitEvent("sb-1", "Warning", reason::kSandboxLost));
  CHECK(f.runner.SawForceDelete(r.runsc_id));
  f.CheckVocabulary();
}

TEST_CASE("Recover: running with its container stopped has an unknown exit code", "[manager]") {
  Fixture f;
  auto r = f.Prefill("sb-1", "alpha", phase::kRunning, reason::kBackendReady);
  f.ScriptList({{r.runsc_id, "stopped", 0}});
  REQUIRE(f.M().Recover().ok());
  auto rec = f.Rec("sb-1");
  CHECK(rec.phase == phase::kFailed);
  CHECK(rec.reason == reason::kProcessExited);
  CHECK_THAT(rec.message, Catch::Contains("unknown"));
  CHECK(f.runner.SawForceDelete(r.runsc_id));
  f.CheckVocabulary();
}

TEST_CASE("Recover: a running container is re-adopted and its exit observed", "[manager]") {
  Fixture f;
  ChildProcess sandbox;
  auto r = f.Prefill("sb-1", "alpha", phase::kRunning, reason::kBackendReady);

  SECTION("its monitor is gone: the sandbox process is watched") {
    f.ScriptList({{r.runsc_id, "running", sandbox.pid()}});
    REQUIRE(f.M().Recover().ok());
    auto rec = f.Rec("sb-1");
    CHECK(rec.phase == phase::kRunning);
    CHECK(rec.generation == r.generation);  // left exactly as it was
    CHECK_FALSE(f.runner.SawForceDelete(r.runsc_id));
    CHECK(f.launcher.call_count() == 0);

    sandbox.Kill();
    REQUIRE(f.WaitPhase("sb-1", phase::kExited));
    CHECK_THAT(f.Rec("sb-1").message, Catch::Contains("lost"));
  }
  SECTION("its monitor is alive: the monitor is watched") {
    ChildProcess monitor;
    r.monitor_pid = monitor.pid();
    REQUIRE(f.store->Update(r).ok());
    f.ScriptList({{r.runsc_id, "running", sandbox.pid()}});
    REQUIRE(f.M().Recover().ok());
    CHECK(f.Phase("sb-1") == phase::kRunning);

    f.ExpectOnlyTheMonitorIsWatched(r, monitor, sandbox, 4);
  }
  CHECK(f.runner.SawForceDelete(r.runsc_id));
  CHECK(f.WaitEvent("sb-1", "Warning", reason::kProcessExited));
  f.CheckVocabulary();
}

TEST_CASE("Recover: an interrupted provisioning is redone", "[manager]") {
  Fixture f;
  auto r = f.Prefill("sb-1", "alpha", phase::kProvisioning, reason::kStarting);
  f.mounter.AddMount(f.layout.rootfs(r.runsc_id));  // half-built leftovers
  SECTION("no container was created") {}
  SECTION("the container is there but stopped") {
    f.ScriptList({{r.runsc_id, "stopped", 0}});
  }
  REQUIRE(f.M().Recover().ok());
  REQUIRE(f.WaitPhase("sb-1", phase::kRunning));
  CHECK(f.runner.SawForceDelete(r.runsc_id));
  auto calls = f.launcher.calls();
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].spec.container_id == r.runsc_id);
  CHECK(f.mounter.mounts().count(f.layout.rootfs(r.runsc_id)) == 1);
  CHECK(f.WaitEvent("sb-1", "Normal", "Started"));
  f.CheckVocabulary();
}

TEST_CASE("Recover: a provisioning whose container came up is adopted and not redone",
          "[manager]") {
  Fixture f;
  auto r = f.Prefill("sb-1", "alpha", phase::kProvisioning, reason::kStarting);
  ChildProcess sandbox;
  f.ScriptList({{r.runsc_id, "running", sandbox.pid()}});
  REQUIRE(f.M().Recover().ok());
  auto rec = f.Rec("sb-1");
  CHECK(rec.phase == phase::kRunning);
  CHECK(rec.reason == reason::kBackendReady);
  CHECK(f.launcher.call_count() == 0);
  CHECK_FALSE(f.runner.SawForceDelete(r.runsc_id));
  sandbox.Kill();
  REQUIRE(f.WaitPhase("sb-1", phase::kExited));
  f.CheckVocabulary();
}

TEST_CASE("the first create of an image reports each unpacked layer as progress", "[manager]") {
  Fixture f;
  f.CreateRunning("sb-1", "alpha");
  // The image was not in the cache: unpacking it published per-layer
  // progress the OpenShell CLI reads (openshell.progress.*).
  CHECK(f.WaitEvent("sb-1", "Normal", "PullingLayer"));
  CHECK(f.WaitEvent("sb-1", "Normal", "Pulled"));
}

TEST_CASE("Stop is refused with a clear message when runsc lacks --net-disconnect-ok",
          "[manager]") {
  Fixture f;
  RunscFeatures old_runsc;
  old_runsc.flags = {"overlay2"};
  f.runsc->SetFeatures(old_runsc);
  f.CreateRunning("sb-1", "alpha");
  auto st = f.M().Stop("sb-1", "");
  CHECK(st.code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(st.message()), Catch::Contains("net-disconnect-ok"));
  CHECK(f.Phase("sb-1") == phase::kRunning);
}

TEST_CASE("Recover: a provisioning whose container was created but never started is redone",
          "[manager]") {
  // Regression (found by this test): recovery counted a container in
  // state `created` as alive and adopted it as running (Ready=True), but with
  // no monitor left nothing ever runs `runsc start`: the main process never
  // starts. Expected: without a live monitor, a `created` container is
  // half-built and provisioning is redone.
  Fixture f;
  auto r = f.Prefill("sb-1", "alpha", phase::kProvisioning, reason::kStarting);
  ChildProcess sandbox;  // runsc's sandbox process waits for `start`
  f.ScriptList({{r.runsc_id, "created", sandbox.pid()}});
  REQUIRE(f.M().Recover().ok());
  CHECK(f.launcher.WaitCalls(1, std::chrono::seconds(5)));
  CHECK(f.runner.SawForceDelete(r.runsc_id));
}

TEST_CASE("Recover: a launch still running after the restart is waited for", "[manager]") {
  Fixture f;
  auto r = f.Prefill("sb-1", "alpha", phase::kStarting, reason::kCheckpointed);
  // The monitor started before the crash, recognised by its directory and argv.
  ChildProcess monitor({"sh", "-c", "sleep 100000; :", "monitor"}, f.layout.sandbox_dir(r.runsc_id));
  ChildProcess sandbox;
  REQUIRE(WriteFileAtomic(f.layout.sandbox_dir(r.runsc_id) + "/monitor.pid",
                          std::to_string(monitor.pid()) + "\n", 0600)
              .ok());
  // Not listed yet; then runsc reports it running.
  f.runner.Script("state",
                  FakeRunner::Ok(HookedRunner::StateJson(r.runsc_id, "running", sandbox.pid())));
  // Until it has exec'd, its argv and cwd are still the test's.
  REQUIRE(Eventually(
      [&] { return IsMonitorOf(monitor.pid(), f.layout.sandbox_dir(r.runsc_id)); }));
  REQUIRE(f.M().Recover().ok());
  auto rec = f.Rec("sb-1");
  CHECK(rec.phase == phase::kRunning);
  CHECK(rec.monitor_pid == monitor.pid());  // the monitor is watched
  CHECK_FALSE(f.runner.SawForceDelete(r.runsc_id));

  f.ExpectOnlyTheMonitorIsWatched(r, monitor, sandbox, 6);
  f.CheckVocabulary();
}

TEST_CASE("Recover: an unreadable stored request fails the sandbox", "[manager]") {
  Fixture f;
  auto r = f.Prefill("sb-1", "alpha", phase::kProvisioning, reason::kStarting);
  r.spec_json = "{not json";
  REQUIRE(f.store->Update(r).ok());
  REQUIRE(f.M().Recover().ok());
  CHECK(f.Phase("sb-1") == phase::kFailed);
  CHECK(f.Rec("sb-1").reason == reason::kContainerCreateFailed);
  CHECK(f.launcher.call_count() == 0);
  f.CheckVocabulary();
}

TEST_CASE("Recover: an interrupted delete is finished", "[manager]") {
  Fixture f;
  auto r = f.Prefill("sb-1", "alpha", phase::kDeleting, reason::kStarting);
  REQUIRE(MakeDirs(f.CheckpointRoot(r.runsc_id), 0700).ok());
  REQUIRE(f.M().Recover().ok());
  CHECK_FALSE(f.HasRecord("sb-1"));
  CHECK(f.log->HasDeleted("sb-1"));
  CHECK(f.runner.SawForceDelete(r.runsc_id));
  CHECK_FALSE(fs::exists(f.layout.sandbox_dir(r.runsc_id)));
  CHECK_FALSE(fs::exists(f.CheckpointRoot(r.runsc_id)));
  CHECK(f.M().List().empty());
  f.CheckVocabulary();
}

TEST_CASE("Recover: stopping with a sealed image finishes the stop", "[manager]") {
  Fixture f;
  auto r = f.Prefill("sb-1", "alpha", phase::kStopping, reason::kBackendReady);
  CheckpointImage image = f.SealImage(r.runsc_id);
  // A second, unfinished attempt: temporaries are never trusted.
  HookedRunner::WriteCheckpointFiles(f.CheckpointRoot(r.runsc_id) + "/tmp-partial", "half");
  ChildProcess sandbox;
  f.ScriptList({{r.runsc_id, "running", sandbox.pid()}});
  REQUIRE(f.M().Recover().ok());

  auto rec = f.Rec("sb-1");
  CHECK(rec.phase == phase::kStopped);
  CHECK(rec.reason == reason::kCheckpointed);
  REQUIRE_FALSE(rec.checkpoint_json.empty());
  CHECK(CheckpointFromJson(rec.checkpoint_json)->dir == image.dir);
  CHECK(f.TmpDirsIn(f.CheckpointRoot(r.runsc_id)).empty());
  CHECK(f.runner.SawForceDelete(r.runsc_id));
  CHECK(ConditionOf(f.Snap("sb-1"), "Suspended")->reason == reason::kCheckpointed);

  // And it restores from that image.
  REQUIRE(f.M().Start("sb-1", "").ok());
  CHECK(f.launcher.calls().back().spec.restore_image_dir == image.dir);
  CHECK(f.Phase("sb-1") == phase::kRunning);
  f.CheckVocabulary();
}

TEST_CASE("Recover: stopping with an image older than the stop does not trust it",
          "[manager]") {
  Fixture f;
  auto r = f.Prefill("sb-1", "alpha", phase::kStopping, reason::kBackendReady);
  f.SealImage(r.runsc_id);
  r.updated_at_ms = NowMs() + 60000;  // the stop began after that image was made
  REQUIRE(f.store->Update(r).ok());
  REQUIRE(f.M().Recover().ok());
  CHECK(f.Phase("sb-1") == phase::kStopped);
  CHECK(f.Rec("sb-1").reason == reason::kStoppedWithoutMemory);
  CHECK(f.Rec("sb-1").checkpoint_json.empty());
  f.CheckVocabulary();
}

TEST_CASE("Recover: stopping without an image with the container alive rolls back", "[manager]") {
  Fixture f;
  auto r = f.Prefill("sb-1", "alpha", phase::kStopping, reason::kBackendReady);
  ChildProcess sandbox;
  f.ScriptList({{r.runsc_id, "running", sandbox.pid()}});
  // It keeps running and its half image stops growing: the save is over.
  f.runner.Script("state",
                  FakeRunner::Ok(HookedRunner::StateJson(r.runsc_id, "running", sandbox.pid())));
  HookedRunner::WriteCheckpointFiles(f.CheckpointRoot(r.runsc_id) + "/tmp-interrupted", "half");
  REQUIRE(f.M().Recover().ok());
  auto rec = f.Rec("sb-1");
  CHECK(rec.phase == phase::kRunning);
  CHECK_THAT(rec.message, Catch::Contains("interrupted"));
  CHECK(f.TmpDirsIn(f.CheckpointRoot(r.runsc_id)).empty());
  CHECK_FALSE(f.runner.SawForceDelete(r.runsc_id));
  CHECK(ConditionOf(f.Snap("sb-1"), "Ready")->status == "True");
  // Re-adopted: its exit is observed.
  sandbox.Kill();
  REQUIRE(f.WaitPhase("sb-1", phase::kExited));
  f.CheckVocabulary();
}

TEST_CASE("Recover: a checkpoint that finished after the restart is sealed", "[manager]") {
  Fixture f;
  auto r = f.Prefill("sb-1", "alpha", phase::kStopping, reason::kBackendReady);
  ChildProcess sandbox;
  f.ScriptList({{r.runsc_id, "running", sandbox.pid()}});
  // Alive when listed; the save then ends it while recovery waits (which it
  // does for at least 3 s while the image does not grow).
  std::thread save_ends;
  f.runner.OnRun("list", [&](const Command&, const absl::StatusOr<CommandResult>&) {
    save_ends = std::thread([&] {
      std::this_thread::sleep_for(milliseconds(500));
      sandbox.KillAndWait();
    });
  });
  f.runner.Script("state", HookedRunner::NoSuchContainer(r.runsc_id));
  HookedRunner::WriteCheckpointFiles(f.CheckpointRoot(r.runsc_id) + "/tmp-interrupted", "pages");
  struct Join {
    std::thread& t;
    ~Join() {
      if (t.joinable()) t.join();
    }
  } join{save_ends};
  SECTION("it exited 0, as a successful save ends it") {
    f.WriteExit(r.runsc_id, 0);
    REQUIRE(f.M().Recover().ok());
    auto rec = f.Rec("sb-1");
    CHECK(rec.phase == phase::kStopped);
    CHECK(rec.reason == reason::kCheckpointed);
    REQUIRE_FALSE(rec.checkpoint_json.empty());
    auto image = CheckpointFromJson(rec.checkpoint_json);
    REQUIRE(image.ok());
    CHECK(image->dir == f.CheckpointRoot(r.runsc_id) + "/image");
    CHECK(VerifyCheckpoint(*image).ok());
    REQUIRE(f.M().Start("sb-1", "").ok());
    CHECK(f.launcher.calls().back().spec.restore_image_dir == image->dir);
  }
  SECTION("it died some other way: the half image is not trusted") {
    f.WriteExit(r.runsc_id, 137);
    REQUIRE(f.M().Recover().ok());
    auto rec = f.Rec("sb-1");
    CHECK(rec.phase == phase::kStopped);
    CHECK(rec.reason == reason::kStoppedWithoutMemory);
    CHECK(rec.checkpoint_json.empty());
    CHECK_FALSE(fs::exists(f.CheckpointRoot(r.runsc_id) + "/image"));
  }
  CHECK(f.TmpDirsIn(f.CheckpointRoot(r.runsc_id)).empty());
  CHECK(f.runner.SawForceDelete(r.runsc_id));
  f.CheckVocabulary();
}

TEST_CASE("Recover: stopping without an image with the container gone is stopped without memory",
          "[manager]") {
  Fixture f;
  auto r = f.Prefill("sb-1", "alpha", phase::kStopping, reason::kBackendReady);
  REQUIRE(f.M().Recover().ok());
  auto rec = f.Rec("sb-1");
  CHECK(rec.phase == phase::kStopped);
  CHECK(rec.reason == reason::kStoppedWithoutMemory);
  CHECK(rec.checkpoint_json.empty());
  CHECK(f.WaitEvent("sb-1", "Warning", reason::kStoppedWithoutMemory));
  CHECK(f.runner.SawForceDelete(r.runsc_id));
  // Start boots it cold.
  REQUIRE(f.M().Start("sb-1", "").ok());
  CHECK(f.launcher.calls().back().spec.restore_image_dir.empty());
  CHECK(f.Phase("sb-1") == phase::kRunning);
  f.CheckVocabulary();
}

TEST_CASE("Recover: starting with the container alive is running", "[manager]") {
  Fixture f;
  auto r = f.Prefill("sb-1", "alpha", phase::kStarting, reason::kCheckpointed);
  ChildProcess sandbox;
  f.ScriptList({{r.runsc_id, "running", sandbox.pid()}});
  REQUIRE(f.M().Recover().ok());
  auto rec = f.Rec("sb-1");
  CHECK(rec.phase == phase::kRunning);
  CHECK(rec.reason == reason::kBackendReady);
  CHECK_FALSE(f.runner.SawForceDelete(r.runsc_id));
  sandbox.Kill();
  REQUIRE(f.WaitPhase("sb-1", phase::kExited));
  f.CheckVocabulary();
}

TEST_CASE("Recover: starting with the container gone rolls back to stopped", "[manager]") {
  Fixture f;
  auto r = f.Prefill("sb-1", "alpha", phase::kStarting, reason::kCheckpointed);
  CheckpointImage image = f.SealImage(r.runsc_id);
  r.checkpoint_json = CheckpointToJson(image);
  REQUIRE(f.store->Update(r).ok());
  REQUIRE(f.M().Recover().ok());
  auto rec = f.Rec("sb-1");
  CHECK(rec.phase == phase::kStopped);
  CHECK(rec.checkpoint_json == r.checkpoint_json);
  CHECK(f.runner.SawForceDelete(r.runsc_id));
  auto suspended = ConditionOf(f.Snap("sb-1"), "Suspended");
  REQUIRE(suspended);
  CHECK(suspended->reason == reason::kCheckpointed);
  // The start can simply be retried, from the same image.
  REQUIRE(f.M().Start("sb-1", "").ok());
  CHECK(f.launcher.calls().back().spec.restore_image_dir == image.dir);
  f.CheckVocabulary();
}

TEST_CASE("Recover: terminal and stopped records are kept as they are", "[manager]") {
  Fixture f;
  auto exited = f.Prefill("sb-1", "alpha", phase::kExited, reason::kProcessExited);
  auto failed = f.Prefill("sb-2", "beta", phase::kFailed, reason::kImagePullFailed);
  auto stopped = f.Prefill("sb-3", "gamma", phase::kStopped, reason::kStoppedWithoutMemory);
  ChildProcess straggler;
  f.ScriptList({{stopped.runsc_id, "running", straggler.pid()}});
  REQUIRE(f.M().Recover().ok());
  CHECK(f.Rec("sb-1") == exited);
  CHECK(f.Rec("sb-2") == failed);
  CHECK(f.Rec("sb-3") == stopped);
  CHECK(f.M().List().size() == 3);
  // A stopped sandbox has no container: a leftover one is removed.
  CHECK(f.runner.SawForceDelete(stopped.runsc_id));
  CHECK(fs::exists(f.layout.sandbox_dir(exited.runsc_id)));
  CHECK(f.log->size() == 0);
}

TEST_CASE("Recover: orphan containers and sandbox dirs and checkpoints are removed",
          "[manager]") {
  Fixture f;
  auto known = f.Prefill("sb-1", "alpha", phase::kExited, reason::kProcessExited);
  const std::string orphan = f.NewId();
  const std::string orphan_dir = f.layout.sandbox_dir(f.NewId());
  const std::string orphan_ck = f.CheckpointRoot(f.NewId());
  REQUIRE(MakeDirs(orphan_dir + "/upper", 0700).ok());
  REQUIRE(MakeDirs(orphan_ck + "/image", 0700).ok());
  f.mounter.AddMount(orphan_dir + "/bundle/rootfs");
  f.ScriptList({{orphan, "running", 0}});
  REQUIRE(f.M().Recover().ok());

  CHECK(f.runner.SawForceDelete(orphan));
  CHECK_FALSE(fs::exists(orphan_dir));
  CHECK_FALSE(fs::exists(orphan_ck));
  CHECK(f.mounter.mounts().empty());
  CHECK(fs::exists(f.layout.sandbox_dir(known.runsc_id)));
  CHECK(f.HasRecord("sb-1"));
  CHECK_FALSE(f.runner.SawForceDelete(known.runsc_id));
}

TEST_CASE("Recover: the sweep leaves alone what the driver did not make", "[manager]") {
  Fixture f;
  f.config.checkpoint_dir = f.tmp.Dir("ck");  // an operator's directory, shared with us
  f.Networked();
  const std::string orphan = f.NewId();
  const std::string lookalike = "osgv-" + std::string(31, 'a');  // one digit short
  const std::string upper_hex = "osgv-" + std::string(32, 'A');  // ours are lowercase
  auto make = [](const std::string& dir) { REQUIRE(MakeDirs(dir, 0700).ok()); };
  auto touch = [](const std::string& file) { std::ofstream(file) << "operator data\n"; };

  // Checkpoint dir: the operator's own dirs, a lookalike laid out like
  // ours, a dir with our name but not our layout, and a real orphan.
  const std::string keep_me = f.config.checkpoint_dir + "/keep-me";
  make(keep_me);
  touch(keep_me + "/notes.txt");
  make(f.CheckpointRoot(lookalike) + "/image");
  make(f.CheckpointRoot(upper_hex) + "/image");
  const std::string not_our_layout = f.CheckpointRoot(f.NewId());
  make(not_our_layout + "/image");
  touch(not_our_layout + "/backup.tar");
  // (An id of its own: removing an orphan sandbox dir takes its
  // checkpoints along, and this one is to be found by the sweep itself.)
  const std::string orphan_ck = f.CheckpointRoot(f.NewId());
  make(orphan_ck + "/image");
  make(orphan_ck + "/tmp-0123456789ab");
  touch(orphan_ck + "/image/pages.img");
  // State dir: the same kinds of names.
  make(f.layout.sandboxes() + "/keep-me");
  make(f.layout.sandbox_dir(lookalike) + "/upper");
  make(f.layout.sandbox_dir(orphan) + "/upper");
  // runsc containers and networks.
  f.ScriptList({{"keep-me", "running", 0}, {lookalike, "stopped", 0}, {orphan, "stopped", 0}});
  f.net.attached[lookalike].runsc_id = lookalike;
  f.net.attached[orphan].runsc_id = orphan;

  REQUIRE(f.M().Recover().ok());

  CHECK(fs::exists(keep_me + "/notes.txt"));
  CHECK(fs::exists(f.CheckpointRoot(lookalike) + "/image"));
  CHECK(fs::exists(f.CheckpointRoot(upper_hex) + "/image"));
  CHECK(fs::exists(not_our_layout + "/backup.tar"));
  CHECK_FALSE(fs::exists(orphan_ck));
  CHECK(fs::exists(f.layout.sandboxes() + "/keep-me"));
  CHECK(fs::exists(f.layout.sandbox_dir(lookalike) + "/upper"));
  CHECK_FALSE(fs::exists(f.layout.sandbox_dir(orphan)));
  CHECK_FALSE(f.runner.SawForceDelete("keep-me"));
  CHECK_FALSE(f.runner.SawForceDelete(lookalike));
  CHECK(f.runner.SawForceDelete(orphan));
  auto calls = f.NetCalls();
  CHECK(std::count(calls.begin(), calls.end(), "teardown " + lookalike) == 0);
  CHECK(std::count(calls.begin(), calls.end(), "teardown " + orphan) == 1);
}

TEST_CASE("Recover: a runsc list failure is an error", "[manager]") {
  Fixture f;
  f.Prefill("sb-1", "alpha", phase::kRunning, reason::kBackendReady);
  f.runner.Script("list", FakeRunner::Exit(1, "permission denied"));
  absl::Status st = f.M().Recover();
  CHECK_FALSE(st.ok());
  CHECK_THAT(Msg(st), Catch::Contains("permission denied"));
  CHECK(f.Phase("sb-1") == phase::kRunning);
}

// ---- vocabulary ------------------------------------------------------------------

TEST_CASE("Every snapshot of a full lifecycle uses the condition vocabulary", "[manager]") {
  Fixture f;
  auto& m = f.M();
  // Through every phase: provisioning, running, stopping, stopped
  // (both reasons), starting, failed, exited, deleting.
  const std::string rid = f.CreateRunning("sb-1", "alpha");
  f.StopWithCheckpoint("sb-1");
  REQUIRE(m.Start("sb-1", "").ok());
  f.ScriptCheckpointFails("checkpoint: killed\n");
  f.runner.Script("state", HookedRunner::NoSuchContainer(rid));
  REQUIRE(m.Stop("sb-1", "").ok());
  REQUIRE(f.Rec("sb-1").reason == reason::kStoppedWithoutMemory);
  REQUIRE(m.Start("sb-1", "").ok());
  f.launcher.Exit(rid, 2);
  REQUIRE(f.WaitPhase("sb-1", phase::kExited));
  REQUIRE(m.Delete("sb-1", "").value());

  f.launcher.FailWith(absl::InternalError("runsc start: boom"));
  REQUIRE(m.Create(f.Req("sb-2", "beta")).ok());
  REQUIRE(f.WaitPhase("sb-2", phase::kFailed));
  REQUIRE(m.Delete("sb-2", "").value());

  std::set<SandboxPhase> phases;
  for (const auto& e : f.log->entries()) {
    if (e.event.kind == Kind::kSandbox && e.phase) phases.insert(*e.phase);
  }
  for (SandboxPhase p : {phase::kProvisioning, phase::kRunning, phase::kStopping, phase::kStopped,
                        phase::kStarting, phase::kExited, phase::kFailed, phase::kDeleting}) {
    INFO(PhaseName(p));
    CHECK(phases.count(p) == 1);
  }
  CHECK(f.log->HasDeleted("sb-1"));
  CHECK(f.log->HasDeleted("sb-2"));
  f.CheckVocabulary();
}

// ---- regressions -----------------------------------------------------------------

TEST_CASE("Delete during provisioning is not overwritten by the launch in flight",
          "[manager]") {
  // Delete marks the record `deleting` before it waits for the operation
  // lock; the provisioning step in flight must not write `running` over it
  // (a crash before Delete finished would then recover a running sandbox
  // whose gateway row waits forever in Deleting).
  Fixture f;
  auto& m = f.M();
  f.launcher.Block();
  REQUIRE(m.Create(f.Req("sb-1", "alpha")).ok());
  REQUIRE(f.launcher.WaitCalls(1));
  auto del = std::async(std::launch::async, [&] { return m.Delete("sb-1", ""); });
  REQUIRE(f.log->WaitFor([](const std::vector<EventLog::Entry>& es) {
    for (const auto& e : es) {
      if (e.phase == phase::kDeleting) return true;
    }
    return false;
  }));
  f.launcher.Unblock();
  auto deleted = del.get();
  REQUIRE(deleted.ok());
  CHECK(*deleted);
  CHECK(f.log->HasDeleted("sb-1"));
  bool deleting_seen = false;
  for (const auto& e : f.log->entries()) {
    if (e.event.kind != Kind::kSandbox) continue;
    deleting_seen |= e.phase == phase::kDeleting;
    if (deleting_seen) {
      INFO("a snapshot published after `deleting` was stored in phase "
           << (e.phase ? PhaseName(*e.phase) : "(none)"));
      CHECK(e.phase == phase::kDeleting);
      CHECK(e.event.sandbox.status.deleting);
    }
  }
  CHECK(deleting_seen);
}

TEST_CASE("A Start that cannot read the stored request leaves the sandbox stopped",
          "[manager]") {
  // Not stuck in `starting`, where every later Stop/Start was refused.
  Fixture f;
  auto r = f.Prefill("sb-1", "alpha", phase::kStopped, reason::kStoppedWithoutMemory);
  r.spec_json = "{not json";
  REQUIRE(f.store->Update(r).ok());
  REQUIRE(f.M().Recover().ok());
  CHECK_FALSE(f.M().Start("sb-1", "").ok());
  CHECK(f.Phase("sb-1") == phase::kStopped);
  CHECK(f.M().Stop("sb-1", "").ok());  // a stopped sandbox: OK no-op
}

TEST_CASE("Create: the sandbox's root has the image root's mode, not the upper dir's 0700",
          "[manager]") {
  // overlayfs takes the merged root's mode from the upper dir; a 0700 root
  // locks a non-root image USER (the supervisor's sandbox user) out of /.
  Fixture f;
  auto& m = f.M();
  REQUIRE(m.Create(f.Req("sb-1", "alpha")).ok());
  REQUIRE(f.WaitPhase("sb-1", phase::kRunning));
  struct stat upper;
  REQUIRE(stat(f.layout.upper(f.Rec("sb-1").runsc_id).c_str(), &upper) == 0);
  CHECK((upper.st_mode & 07777) == 0755);
}

// ---- v0.1.x / Ryno mode (docs/supervisor.md, docs/network.md "Policy fence") ----

// Answers from a table and counts the lookups; a name not in the table is
// NOT_FOUND.
class TableResolver : public HostResolver {
 public:
  std::map<std::string, absl::StatusOr<std::vector<std::string>>> Resolve(
      const std::vector<std::string>& names, std::chrono::milliseconds) override {
    std::lock_guard<std::mutex> lock(mu);
    ++lookups;
    std::map<std::string, absl::StatusOr<std::vector<std::string>>> out;
    for (const auto& name : names) {
      auto it = table.find(name);
      out.emplace(name, it != table.end() ? absl::StatusOr<std::vector<std::string>>(it->second)
                                          : absl::NotFoundError("no such name"));
    }
    return out;
  }
  std::mutex mu;
  std::map<std::string, std::vector<std::string>> table;
  int lookups = 0;
};

SandboxRequest V01Req(const Fixture& f, const std::string& id, const std::string& name) {
  SandboxRequest r = f.Req(id, name);
  r.spec.generation = GatewayGeneration::kV01;
  r.spec.policy.present = true;
  r.spec.policy.endpoints = {{"api.example.com", {443}, {}},
                             {"", {5432}, {"10.0.5.0/24", "2001:db8::1"}},
                             {"gone.example.com", {80}, {}}};
  r.spec.policy.not_enforced = {"network_policies[\"gh\"].endpoints[0]: L7 rules (protocol rest)"};
  return r;
}

std::vector<std::string> EventMessages(Fixture& f, const std::string& id,
                                       const std::string& reason) {
  std::vector<std::string> out;
  for (const auto& p : f.log->PlatformEvents(id)) {
    if (p.reason == reason) {
      CHECK(p.type == "Warning");
      out.push_back(p.message);
    }
  }
  return out;
}

TEST_CASE("v0.1.x sandbox: no supervisor and no token, even with supervisor.binary set",
          "[manager][generation]") {
  Fixture f;
  // Would fail a pin-era create (no such file); the mode never looks at it.
  f.config.supervisor.binary = "/nonexistent/openshell-sandbox";
  REQUIRE(f.M().Create(V01Req(f, "sb-1", "alpha")).ok());
  REQUIRE(f.WaitPhase("sb-1", phase::kRunning));
  const std::string rid = f.Rec("sb-1").runsc_id;
  CHECK_FALSE(HasTokenFile(f.layout.sandbox_dir(rid)));
  const auto rec = f.Rec("sb-1");
  CHECK(rec.spec_json.find("secret-token") == std::string::npos);
  auto stored = DecodeRequest(rec.spec_json);
  REQUIRE(stored.ok());
  CHECK(stored->spec.generation == GatewayGeneration::kV01);

  auto spec = nlohmann::json::parse(*ReadFile(f.layout.bundle_config(rid)));
  const auto& process = spec.at("process");
  CHECK(process.at("args") == nlohmann::json({"/bin/sh", "-c", "sleep 1000"}));
  for (const auto& e : process.at("env")) {
    const std::string entry = e;
    CHECK(entry.find("secret-token") == std::string::npos);
    CHECK(entry.rfind("OPENSHELL_SANDBOX_TOKEN", 0) != 0);
  }
  for (const auto& m : spec.at("mounts")) {
    const std::string destination = m.at("destination");
    CHECK(destination.rfind("/etc/openshell", 0) != 0);
    CHECK(destination.rfind("/opt/openshell", 0) != 0);
  }
  // Not networked here: every endpoint is said to be unreachable, once.
  CHECK(EventMessages(f, "sb-1", "PolicyNotEnforced") ==
        std::vector<std::string>{"network_policies[\"gh\"].endpoints[0]: L7 rules (protocol rest)",
                                 "network.mode is none: no endpoint is reachable"});
}

TEST_CASE("v0.1.x sandbox: \"sandbox\" workload identity runs the workload as that user",
          "[manager][generation]") {
  Fixture f;
  OciLayoutBuilder oci(f.tmp.Dir("image-with-user"));
  auto layer = oci.AddLayer({Dir("etc"),
                             File("etc/passwd", "root:x:0:0::/root:/bin/sh\n"
                                                "sandbox:x:1000:1001::/sandbox:/bin/sh\n"),
                             File("etc/group", "sandbox:x:1001:\n"), Dir("bin"),
                             File("bin/sh", "#!", 0755)});
  oci.WriteIndex({oci.AddImage({layer}, {{"Cmd", {"/bin/sh"}}})});
  auto req = V01Req(f, "sb-1", "alpha");
  req.spec.tmpl.image = "oci:" + oci.dir();
  req.spec.workload_user = "sandbox";
  REQUIRE(f.M().Create(req).ok());
  REQUIRE(f.WaitPhase("sb-1", phase::kRunning));
  auto spec = nlohmann::json::parse(*ReadFile(f.layout.bundle_config(f.Rec("sb-1").runsc_id)));
  CHECK(spec.at("process").at("user").at("uid") == 1000);
  CHECK(spec.at("process").at("user").at("gid") == 1001);

  // The fixture's image has no such account: the create fails, naming it.
  auto missing = V01Req(f, "sb-2", "beta");
  missing.spec.workload_user = "sandbox";
  REQUIRE(f.M().Create(missing).ok());
  REQUIRE(f.WaitPhase("sb-2", phase::kFailed));
  CHECK_THAT(f.Rec("sb-2").message, Catch::Contains("sandbox.spec.workload_identity.user"));
}

TEST_CASE("v0.1.x sandbox: refused requests change nothing", "[manager][generation]") {
  Fixture f;
  auto req = V01Req(f, "sb-1", "alpha");
  req.spec.await_main_process_attachment = true;
  auto st = f.M().Create(req);
  CHECK(st.code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(Msg(st), Catch::StartsWith("sandbox.spec.await_main_process_attachment"));
  req = V01Req(f, "sb-1", "alpha");
  req.spec.policy.endpoints[0].ports = {70000};
  CHECK(f.M().Create(req).code() == absl::StatusCode::kInvalidArgument);
  CHECK_FALSE(f.HasRecord("sb-1"));
  CHECK(f.M().List().empty());
}

TEST_CASE("v0.1.x sandbox: the policy fence goes up at create and again, freshly looked up, at "
          "each Start",
          "[manager][generation][network]") {
  Fixture f;
  f.Networked();
  TableResolver resolver;
  resolver.table["api.example.com"] = {"93.184.216.34"};
  f.resolver = &resolver;
  REQUIRE(f.M().Create(V01Req(f, "sb-1", "alpha")).ok());
  REQUIRE(f.WaitPhase("sb-1", phase::kRunning));
  const std::string rid = f.Rec("sb-1").runsc_id;
  CHECK(f.NetCalls() == std::vector<std::string>{"setup " + rid, "fence " + rid});
  NetworkFence fence;
  {
    std::lock_guard<std::mutex> lock(f.net.mu);
    fence = f.net.fences.at(rid);
    CHECK(f.net.fence_hostnames.at(rid) == "alpha");
  }
  REQUIRE(fence.rules.size() == 2);
  CHECK(fence.rules[0].destinations == std::vector<std::string>{"93.184.216.34"});
  CHECK(fence.rules[0].ports == std::vector<uint16_t>{443});
  CHECK(fence.rules[1].destinations == std::vector<std::string>{"10.0.5.0/24"});
  using Host = std::pair<std::string, std::string>;
  CHECK(fence.hosts == std::vector<Host>{{"93.184.216.34", "api.example.com"}});
  CHECK(resolver.lookups == 1);
  // The driver layer's line, then this host's: the IPv6 address.
  auto not_enforced = EventMessages(f, "sb-1", "PolicyNotEnforced");
  REQUIRE(not_enforced.size() == 2);
  CHECK_THAT(not_enforced[1], Catch::StartsWith("allowed_ips 2001:db8::1: sandboxes have IPv4 only"));
  CHECK(f.WaitEvent("sb-1", "Warning", "PolicyHostUnresolved"));
  CHECK_THAT(EventMessages(f, "sb-1", "PolicyHostUnresolved").at(0),
             Catch::StartsWith("policy host gone.example.com is not reachable"));

  // Stop/Start: the name now resolves elsewhere, and the fence follows.
  f.StopWithCheckpoint("sb-1");
  resolver.table["api.example.com"] = {"93.184.216.99"};
  REQUIRE(f.M().Start("sb-1", "").ok());
  CHECK(f.NetCalled("restore " + rid));
  {
    std::lock_guard<std::mutex> lock(f.net.mu);
    CHECK(f.net.fences.at(rid).rules[0].destinations == std::vector<std::string>{"93.184.216.99"});
  }
  CHECK(resolver.lookups == 2);
  // Published at create only.
  CHECK(EventMessages(f, "sb-1", "PolicyNotEnforced").size() == 2);
}

TEST_CASE("v0.1.x sandbox: a create the crash interrupted is re-provisioned behind its fence",
          "[manager][generation][network]") {
  Fixture f;
  f.Networked();
  TableResolver resolver;
  resolver.table["api.example.com"] = {"93.184.216.34"};
  f.resolver = &resolver;
  auto r = f.Prefill("sb-1", "alpha", phase::kProvisioning, reason::kStarting);
  r.spec_json = EncodeRequest(V01Req(f, "sb-1", "alpha"));
  r.plan_json = EncodePlan(*PlanSandbox(V01Req(f, "sb-1", "alpha"), f.config));
  REQUIRE(f.store->Update(r).ok());
  REQUIRE(f.M().Recover().ok());
  REQUIRE(f.WaitPhase("sb-1", phase::kRunning));
  CHECK(f.NetCalled("fence " + r.runsc_id));
  std::lock_guard<std::mutex> lock(f.net.mu);
  CHECK(f.net.fences.at(r.runsc_id).rules.size() == 2);
}

TEST_CASE("pin-era sandbox: no fence, no lookups, token file as before", "[manager][generation]") {
  Fixture f;
  f.Networked();
  TableResolver resolver;
  f.resolver = &resolver;
  const std::string rid = f.CreateRunning("sb-1", "alpha");
  CHECK(f.NetCalls() == std::vector<std::string>{"setup " + rid});
  CHECK(resolver.lookups == 0);
  CHECK(HasTokenFile(f.layout.sandbox_dir(rid)));
  CHECK(EventMessages(f, "sb-1", "PolicyNotEnforced").empty());
}

}  // namespace
}  // namespace osgv
