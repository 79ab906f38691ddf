// The stored request (spec_codec.h): what a record keeps of a create, and
// that records written before the v0.1.x/Ryno fields existed read as kV0.
#include "lifecycle/spec_codec.h"

#include <catch2/catch.hpp>
#include <string>

namespace osgv {
namespace {

SandboxRequest V01Request() {
  SandboxRequest r;
  r.id = "sb-1";
  r.name = "agent";
  r.spec.tmpl.image = "busybox:latest";
  r.spec.command = {"/bin/sh"};
  r.spec.sandbox_token = "SECRET-TOKEN";
  r.spec.generation = GatewayGeneration::kRyno;
  r.spec.await_main_process_attachment = true;
  r.spec.workload_user = "sandbox";
  r.spec.workload_group = "1000";
  r.spec.policy.present = true;
  r.spec.policy.endpoints = {{"api.example.com", {443, 8443}, {}},
                             {"", {5432}, {"10.0.5.0/24", "2001:db8::1"}}};
  r.spec.policy.not_enforced = {"network_policies[\"gh\"].endpoints[0]: L7 rules"};
  return r;
}

TEST_CASE("spec codec: the v0.1.x/Ryno fields survive a round trip, the token does not",
          "[spec_codec]") {
  for (GatewayGeneration g : {GatewayGeneration::kV01, GatewayGeneration::kRyno}) {
    SandboxRequest in = V01Request();
    in.spec.generation = g;
    const std::string text = EncodeRequest(in);
    CHECK(text.find("SECRET-TOKEN") == std::string::npos);
    auto out = DecodeRequest(text);
    REQUIRE(out.ok());
    const SandboxSpec& s = out->spec;
    CHECK(s.generation == g);
    CHECK(s.await_main_process_attachment);
    CHECK(s.workload_user == "sandbox");
    CHECK(s.workload_group == "1000");
    CHECK(s.policy.present);
    REQUIRE(s.policy.endpoints.size() == 2);
    CHECK(s.policy.endpoints[0].host == "api.example.com");
    CHECK(s.policy.endpoints[0].ports == std::vector<uint32_t>{443, 8443});
    CHECK(s.policy.endpoints[1].host.empty());
    CHECK(s.policy.endpoints[1].allowed_ips ==
          std::vector<std::string>{"10.0.5.0/24", "2001:db8::1"});
    CHECK(s.policy.not_enforced == in.spec.policy.not_enforced);
    CHECK(s.sandbox_token.empty());
  }
}

TEST_CASE("spec codec: a pin-era record has no mode keys and reads back as kV0", "[spec_codec]") {
  SandboxRequest in = V01Request();
  in.spec.generation = GatewayGeneration::kV0;
  const std::string text = EncodeRequest(in);
  for (const char* key : {"generation", "policy", "workload_identity", "await_main"}) {
    CAPTURE(key);
    CHECK(text.find(key) == std::string::npos);
  }
  // As written before the mode existed.
  auto old = DecodeRequest(
      R"({"id":"sb-0","name":"old","command":["/bin/sh"],"template":{"image":"busybox"}})");
  REQUIRE(old.ok());
  CHECK(old->spec.generation == GatewayGeneration::kV0);
  CHECK_FALSE(old->spec.policy.present);
  CHECK(old->spec.policy.endpoints.empty());
  CHECK_FALSE(old->spec.await_main_process_attachment);
  CHECK(old->spec.workload_user.empty());
}

TEST_CASE("spec codec: an unknown generation is data loss, not kV0", "[spec_codec]") {
  auto bad = DecodeRequest(R"({"id":"x","name":"y","template":{},"generation":"v9"})");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == absl::StatusCode::kDataLoss);
  auto bad_port = DecodeRequest(
      R"({"id":"x","name":"y","template":{},"generation":"v0.1","policy":{"endpoints":[{"ports":["x"]}]}})");
  REQUIRE_FALSE(bad_port.ok());
  CHECK(bad_port.status().code() == absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace osgv
