// The sandbox plan (sandbox_plan.h): what create decides once, how it is
// stored, and how a record from before plans gets one.
#include "lifecycle/sandbox_plan.h"

#include <catch2/catch.hpp>
#include <string>

#include "capabilities/validation.h"

namespace osgv {
namespace {

SandboxRequest Request() {
  SandboxRequest r;
  r.id = "sb-1";
  r.name = "agent";
  r.spec.command = {"/bin/sh"};
  r.spec.tmpl.image = "ghcr.io/example/agent:1";
  return r;
}

Config NetworkedConfig() {
  Config c;
  c.network.mode = NetworkMode::kSandbox;
  c.sandbox.memory_limit_bytes = 1ULL << 30;
  c.sandbox.cpu_limit_millis = 2000;
  c.sandbox.pids_limit = 4096;
  c.images.pull_policy = PullPolicy::kAlways;
  return c;
}

TEST_CASE("plan: the configuration's defaults when the request names none", "[sandbox_plan]") {
  auto plan = PlanSandbox(Request(), NetworkedConfig());
  REQUIRE(plan.ok());
  CHECK(plan->image == "ghcr.io/example/agent:1");
  CHECK(plan->pull_policy == PullPolicy::kAlways);
  CHECK(plan->networked);
  CHECK(plan->memory_limit_bytes == 1ULL << 30);
  CHECK(plan->cpu_limit_millis == 2000);
  CHECK(plan->pids_limit == 4096);
  CHECK_FALSE(plan->policy_fence);
  CHECK_FALSE(plan->supervised);
}

TEST_CASE("plan: the request's resources and driver_config win", "[sandbox_plan]") {
  SandboxRequest r = Request();
  r.spec.tmpl.resources = ResourceRequirements{"", "500m", "", "256Mi"};
  r.spec.tmpl.driver_config_json =
      R"({"pids_limit": 512, "network_mode": "none", "pull_policy": "never"})";
  auto plan = PlanSandbox(r, NetworkedConfig());
  REQUIRE(plan.ok());
  CHECK_FALSE(plan->networked);
  CHECK(plan->memory_limit_bytes == 256ULL << 20);
  CHECK(plan->cpu_limit_millis == 500);
  CHECK(plan->pids_limit == 512);
  CHECK(plan->pull_policy == PullPolicy::kNever);
}

TEST_CASE("plan: an empty image is the driver's default_image", "[sandbox_plan]") {
  Config c = NetworkedConfig();
  c.default_image = "ghcr.io/example/base:2";
  SandboxRequest r = Request();
  r.spec.tmpl.image = "";
  auto plan = PlanSandbox(r, c);
  REQUIRE(plan.ok());
  CHECK(plan->image == "ghcr.io/example/base:2");
}

TEST_CASE("plan: the supervisor runs unless the sandbox is a v0.1.x/Ryno one", "[sandbox_plan]") {
  Config c = NetworkedConfig();
  c.supervisor.binary = "/usr/libexec/openshell/openshell-sandbox";
  auto pin = PlanSandbox(Request(), c);
  REQUIRE(pin.ok());
  CHECK(pin->supervised);
  CHECK_FALSE(pin->policy_fence);

  SandboxRequest v01 = Request();
  v01.spec.generation = GatewayGeneration::kV01;
  auto fenced = PlanSandbox(v01, c);
  REQUIRE(fenced.ok());
  CHECK_FALSE(fenced->supervised);
  CHECK(fenced->policy_fence);
}

TEST_CASE("plan: a request the validator refuses gets its error and no plan", "[sandbox_plan]") {
  SandboxRequest r = Request();
  r.name = "Bad_Name";
  auto plan = PlanSandbox(r, NetworkedConfig());
  REQUIRE_FALSE(plan.ok());
  CHECK(plan.status() == ValidateSandboxRequest(r, NetworkedConfig()).status());
  CHECK_THAT(std::string(plan.status().message()), Catch::StartsWith("sandbox.name: "));
}

TEST_CASE("plan: the stored form round-trips and refuses what this driver did not write",
          "[sandbox_plan]") {
  SandboxPlan p;
  p.image = "oci:/srv/images:agent";
  p.pull_policy = PullPolicy::kAlways;  // not the default, so the round trip shows it
  p.networked = true;
  p.memory_limit_bytes = 5'000'000'000ULL;  // beyond 32 bits
  p.cpu_limit_millis = 1500;
  p.pids_limit = 7;
  p.policy_fence = true;
  p.supervised = false;
  auto back = DecodePlan(EncodePlan(p));
  REQUIRE(back.ok());
  CHECK(*back == p);

  for (const std::string bad : {"", "[]", "not json", R"({"image": "x"})",
                                R"({"version": 2, "image": "x"})",
                                R"({"version": 1, "image": 3})",
                                R"({"version": 1, "image": "x", "pull_policy": "sometimes"})"}) {
    CAPTURE(bad);
    auto decoded = DecodePlan(bad);
    REQUIRE_FALSE(decoded.ok());
    CHECK(decoded.status().code() == absl::StatusCode::kDataLoss);
  }
  // A field added later reads as its default in an older plan.
  auto minimal = DecodePlan(R"({"version": 1, "image": "x"})");
  REQUIRE(minimal.ok());
  CHECK(minimal->image == "x");
  CHECK_FALSE(minimal->networked);
  CHECK(minimal->memory_limit_bytes == 0);
}

TEST_CASE("legacy plan: the bundle decides the network, the configuration the rest",
          "[sandbox_plan]") {
  const Config c = NetworkedConfig();
  auto from_config = PlanLegacySandbox(Request(), "ghcr.io/example/agent:1", c, std::nullopt);
  REQUIRE(from_config.status.ok());
  CHECK(from_config.plan == *PlanSandbox(Request(), c));

  auto bundle_without_netns = PlanLegacySandbox(Request(), "ghcr.io/example/agent:1", c, false);
  REQUIRE(bundle_without_netns.status.ok());
  CHECK_FALSE(bundle_without_netns.plan.networked);
  CHECK(bundle_without_netns.plan.memory_limit_bytes == 1ULL << 30);

  Config none = c;
  none.network.mode = NetworkMode::kNone;
  auto bundle_with_netns = PlanLegacySandbox(Request(), "ghcr.io/example/agent:1", none, true);
  REQUIRE(bundle_with_netns.status.ok());
  CHECK(bundle_with_netns.plan.networked);
}

TEST_CASE("legacy plan: a request that no longer validates keeps only what needs no validation",
          "[sandbox_plan]") {
  SandboxRequest r = Request();
  r.spec.tmpl.driver_config_json = R"({"no_such_key": 1})";
  auto legacy = PlanLegacySandbox(r, "ghcr.io/example/agent:1", NetworkedConfig(), true);
  REQUIRE_FALSE(legacy.status.ok());
  CHECK(legacy.status.code() == absl::StatusCode::kInvalidArgument);
  CHECK(legacy.plan.image == "ghcr.io/example/agent:1");
  CHECK(legacy.plan.networked);  // its bundle's netns
  CHECK(legacy.plan.memory_limit_bytes == 0);

  auto unreadable = PlanLegacySandbox(absl::DataLossError("stored spec is not JSON"),
                                      "ghcr.io/example/agent:1", NetworkedConfig(), std::nullopt);
  CHECK(unreadable.status.code() == absl::StatusCode::kDataLoss);
  CHECK_FALSE(unreadable.plan.networked);
  CHECK(unreadable.plan.image == "ghcr.io/example/agent:1");
}

}  // namespace
}  // namespace osgv
