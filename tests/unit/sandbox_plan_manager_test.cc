// The manager runs each sandbox by the plan create stored with its record
// (sandbox_plan.h), not by the configuration of the day nor its bundle;
// a record from before plans gets one once, at recovery.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "lifecycle/bundle/oci_spec.h"
#include "lifecycle/sandbox_status.h"
#include "lifecycle/runsc/cgroups.h"
#include "unit/manager_fixture.h"

namespace osgv {
namespace {

using namespace osgv::testing;  // NOLINT: fixture builders read as a DSL
using Fixture = ManagerFixture;

SandboxPlan StoredPlan(Fixture& f, const std::string& id) {
  auto plan = DecodePlan(f.Rec(id).plan_json);
  REQUIRE(plan.ok());
  return *plan;
}

TEST_CASE("Plan: create stores the plan it decided, and the bundle follows it", "[manager][plan]") {
  Fixture f;
  f.Networked();
  f.config.sandbox.memory_limit_bytes = 64ULL << 20;
  auto req = f.Req("sb-1", "alpha");
  req.spec.tmpl.driver_config_json = R"({"pids_limit": 300})";
  REQUIRE(f.M().Create(req).ok());
  REQUIRE(f.WaitPhase("sb-1", phase::kRunning));

  SandboxPlan plan = StoredPlan(f, "sb-1");
  CHECK(plan == *PlanSandbox(req, f.config));
  CHECK(plan.networked);
  CHECK(plan.memory_limit_bytes == 64ULL << 20);
  CHECK(plan.pids_limit == 300);
  CHECK(plan.image == f.image_ref);

  const std::string rid = f.Rec("sb-1").runsc_id;
  auto spec = nlohmann::json::parse(*ReadFile(f.layout.bundle_config(rid)));
  CHECK(spec["linux"]["resources"]["memory"]["limit"] == 64LL << 20);
  CHECK(spec["linux"]["resources"]["pids"]["limit"] == 300);
  CHECK(SpecNetnsPath(spec) == "/run/netns/" + rid);
}

TEST_CASE("Plan: a driver started with another network.mode starts a sandbox as it was created",
          "[manager][plan]") {
  Fixture f;
  // Created by a networked driver; this one runs with network.mode none.
  Config networked = f.config;
  networked.network.mode = NetworkMode::kSandbox;
  auto r = f.Prefill("sb-1", "alpha", phase::kStopped, reason::kStoppedWithoutMemory);
  r.plan_json = EncodePlan(*PlanSandbox(f.Req("sb-1", "alpha"), networked));
  REQUIRE(f.store->Update(r).ok());
  REQUIRE(f.M().Recover().ok());
  CHECK(f.Rec("sb-1").plan_json == r.plan_json);  // not re-derived

  auto st = f.M().Start("sb-1", "");
  CHECK(st.code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(Msg(st), Catch::Contains("was created with network.mode sandbox, but this driver "
                                      "runs with network.mode none"));
  CHECK(f.Phase("sb-1") == phase::kStopped);
  CHECK(f.launcher.call_count() == 0);
}

TEST_CASE("Plan: the OOM message names the limit the sandbox was created with", "[manager][plan]") {
  Fixture f;
  f.config.sandbox.memory_limit_bytes = 64ULL << 20;
  ChildProcess sandbox;
  auto r = f.Prefill("sb-1", "alpha", phase::kRunning, reason::kBackendReady);
  // Today's default differs: the record's plan answers.
  f.config.sandbox.memory_limit_bytes = 1ULL << 30;
  f.ScriptList({{r.runsc_id, "running", sandbox.pid()}});
  REQUIRE(f.M().Recover().ok());

  const std::string cg = f.cgroup_root + SandboxCgroupPath(r.runsc_id);
  fs::create_directories(cg);
  WriteAll(cg + "/memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n");
  sandbox.Kill();
  REQUIRE(f.WaitPhase("sb-1", phase::kExited));
  auto rec = f.Rec("sb-1");
  CHECK(rec.reason == reason::kOOMKilled);
  CHECK_THAT(rec.message,
             Catch::Contains("(memory limit " + DescribeMiB(64ULL << 20) + ")"));
}

TEST_CASE("Plan: a record from before plans gets one at recovery, derived as before, stored once",
          "[manager][plan]") {
  Fixture f;
  f.config.sandbox.memory_limit_bytes = 32ULL << 20;
  auto r = f.Prefill("sb-1", "alpha", phase::kStopped, reason::kStoppedWithoutMemory);
  r.plan_json = "";  // as a schema-1 store has it
  REQUIRE(f.store->Update(r).ok());

  SECTION("its bundle names a netns: networked, whatever network.mode says now") {
    // The bundle an older driver wrote (the bundle writer never writes one
    // for a plan it does not have).
    REQUIRE(MakeDirs(f.layout.bundle(r.runsc_id), 0700).ok());
    nlohmann::json spec = {
        {"linux", {{"namespaces", {{{"type", "network"}, {"path", "/run/netns/x"}}}}}}};
    REQUIRE(WriteFileReplace(f.layout.bundle_config(r.runsc_id), spec.dump(), 0600).ok());
    REQUIRE(f.M().Recover().ok());

    auto rec = f.Rec("sb-1");
    CHECK(rec.generation == r.generation + 1);
    SandboxPlan plan = StoredPlan(f, "sb-1");
    CHECK(plan.networked);
    CHECK(plan.memory_limit_bytes == 32ULL << 20);
    // The old rule, from the plan now: this driver has no network.
    auto st = f.M().Start("sb-1", "");
    CHECK_THAT(Msg(st), Catch::Contains("was created with network.mode sandbox"));
  }
  SECTION("no bundle (imported by an older driver): today's configuration decides") {
    REQUIRE(f.M().Recover().ok());
    SandboxPlan plan = StoredPlan(f, "sb-1");
    CHECK(plan == *PlanSandbox(f.Req("sb-1", "alpha"), f.config));
    CHECK_FALSE(plan.networked);
    // Started, it gets a bundle written from that plan.
    REQUIRE(f.M().Start("sb-1", "").ok());
    auto spec = nlohmann::json::parse(*ReadFile(f.layout.bundle_config(r.runsc_id)));
    CHECK(spec["linux"]["resources"]["memory"]["limit"] == 32LL << 20);
  }
  SECTION("a request that no longer validates: no plan stored, no bundle written") {
    auto request = f.Req("sb-1", "alpha");
    request.spec.tmpl.driver_config_json = R"({"no_such_key": 1})";
    r.spec_json = EncodeRequest(request);
    REQUIRE(f.store->Update(r).ok());
    REQUIRE(f.M().Recover().ok());
    CHECK(f.Rec("sb-1").plan_json.empty());
    auto st = f.M().Start("sb-1", "");
    CHECK(st.code() == absl::StatusCode::kFailedPrecondition);
    CHECK_THAT(Msg(st), Catch::Contains("no_such_key"));
    CHECK(f.Phase("sb-1") == phase::kStopped);
    CHECK_FALSE(fs::exists(f.layout.bundle_config(r.runsc_id)));
  }
}

}  // namespace
}  // namespace osgv
