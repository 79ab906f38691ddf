// The v0.1.x/Ryno mode's own request rules (generation_validation.h),
// exercised through ValidateSandboxRequest, which Validate and Create call.
#include "capabilities/generation_validation.h"

#include <catch2/catch.hpp>
#include <functional>
#include <string>

#include "capabilities/validation.h"

namespace osgv {
namespace {

using Code = absl::StatusCode;

SandboxRequest V01Request() {
  SandboxRequest request;
  request.id = "3f2b8c1e-9a4d-4c6e-8f1a-2b3c4d5e6f70";
  request.name = "agent";
  request.spec.tmpl.image = "ghcr.io/nvidia/openshell/sandbox:latest";
  request.spec.generation = GatewayGeneration::kV01;
  request.spec.policy.present = true;
  request.spec.policy.endpoints = {{"api.example.com", {443}, {}},
                                   {"", {5432, 5433}, {"10.0.5.0/24", "2001:db8::1"}}};
  return request;
}

Config TestConfig() {
  Config config;
  config.socket.path = "/run/gvisor.sock";
  return config;
}

absl::Status Validate(const SandboxRequest& request) {
  return ValidateSandboxRequest(request, TestConfig()).status();
}

TEST_CASE("a v0.1.x or Ryno request with selectors and endpoints is valid", "[validation][generation]") {
  for (GatewayGeneration g : {GatewayGeneration::kV01, GatewayGeneration::kRyno}) {
    SandboxRequest request = V01Request();
    request.spec.generation = g;
    for (const char* selector : {"", "sandbox", "1", "1000", "4294967294"}) {
      request.spec.workload_user = selector;
      request.spec.workload_group = selector;
      CAPTURE(selector);
      CHECK(Validate(request).ok());
    }
  }
}

struct Rejection {
  std::string what;
  std::function<void(SandboxSpec&)> change;
  Code code;
  std::string message_start;
};

TEST_CASE("the mode refuses what it cannot do, naming the field", "[validation][generation]") {
  const std::vector<Rejection> cases = {
      {"await attachment", [](SandboxSpec& s) { s.await_main_process_attachment = true; },
       Code::kFailedPrecondition, "sandbox.spec.await_main_process_attachment: not supported"},
      {"user name", [](SandboxSpec& s) { s.workload_user = "root"; }, Code::kInvalidArgument,
       "sandbox.spec.workload_identity.user: must be empty, \"sandbox\" or a number"},
      {"uid 0", [](SandboxSpec& s) { s.workload_user = "0"; }, Code::kInvalidArgument,
       "sandbox.spec.workload_identity.user:"},
      {"uid -1", [](SandboxSpec& s) { s.workload_user = "4294967295"; }, Code::kInvalidArgument,
       "sandbox.spec.workload_identity.user:"},
      {"signed uid", [](SandboxSpec& s) { s.workload_user = "+5"; }, Code::kInvalidArgument,
       "sandbox.spec.workload_identity.user:"},
      {"group name", [](SandboxSpec& s) { s.workload_group = "wheel"; }, Code::kInvalidArgument,
       "sandbox.spec.workload_identity.group:"},
      {"port 0", [](SandboxSpec& s) { s.policy.endpoints[0].ports = {443, 0}; },
       Code::kInvalidArgument, "sandbox.spec.policy.endpoints[0].ports[1]: must be from 1 to 65535"},
      {"port 65536", [](SandboxSpec& s) { s.policy.endpoints[1].ports = {65536}; },
       Code::kInvalidArgument, "sandbox.spec.policy.endpoints[1].ports[0]:"},
      {"no port", [](SandboxSpec& s) { s.policy.endpoints[0].ports.clear(); },
       Code::kInvalidArgument, "sandbox.spec.policy.endpoints[0].ports: at least one port"},
      {"bad ip", [](SandboxSpec& s) { s.policy.endpoints[1].allowed_ips = {"10.0.5.0/33"}; },
       Code::kInvalidArgument, "sandbox.spec.policy.endpoints[1].allowed_ips[0]: must be an IPv4"},
      {"name as ip", [](SandboxSpec& s) { s.policy.endpoints[1].allowed_ips = {"example.com"}; },
       Code::kInvalidArgument, "sandbox.spec.policy.endpoints[1].allowed_ips[0]:"},
      {"glob host", [](SandboxSpec& s) { s.policy.endpoints[0].host = "*.example.com"; },
       Code::kInvalidArgument, "sandbox.spec.policy.endpoints[0].host: must be an exact DNS name"},
      {"host injection", [](SandboxSpec& s) { s.policy.endpoints[0].host = "a.com\n1.2.3.4 b"; },
       Code::kInvalidArgument, "sandbox.spec.policy.endpoints[0].host:"},
      {"nothing to allow", [](SandboxSpec& s) { s.policy.endpoints[1].allowed_ips.clear(); },
       Code::kInvalidArgument, "sandbox.spec.policy.endpoints[1]: names neither a host"},
      {"too many", [](SandboxSpec& s) { s.policy.endpoints.resize(kMaxPolicyEndpoints + 1, {"a.b", {1}, {}}); },
       Code::kInvalidArgument, "sandbox.spec.policy.endpoints: 257 endpoints; at most 256"},
  };
  for (const Rejection& c : cases) {
    SandboxRequest request = V01Request();
    c.change(request.spec);
    absl::Status status = Validate(request);
    CAPTURE(c.what, status.ToString());
    CHECK(status.code() == c.code);
    CHECK_THAT(std::string(status.message()), Catch::StartsWith(c.message_start));
  }
}

TEST_CASE("pin-era requests are not held to the mode's rules", "[validation][generation]") {
  // A kV0 request never carries these fields; if one did, nothing of the
  // mode applies to it, so they cannot change how it is validated.
  SandboxRequest request = V01Request();
  request.spec.generation = GatewayGeneration::kV0;
  request.spec.await_main_process_attachment = true;
  request.spec.workload_user = "root";
  CHECK(Validate(request).ok());
  CHECK_FALSE(IsDriverReadinessMode(request.spec));
}

TEST_CASE("IP/CIDR and exact DNS name rules", "[validation][generation]") {
  for (const char* ok : {"10.0.5.20", "10.0.5.0/24", "0.0.0.0/0", "::1", "2001:db8::/32",
                         "fe80::1/128"}) {
    CAPTURE(ok);
    CHECK(IsIpOrCidr(ok));
  }
  for (const char* bad : {"", "10.0.5", "10.0.5.0/", "10.0.5.0/-1", "10.0.5.0/ 8", "::1/129",
                          "010.0.0.1x", "10.0.0.1/24/8", "host"}) {
    CAPTURE(bad);
    CHECK_FALSE(IsIpOrCidr(bad));
  }
  for (const char* ok : {"api.example.com", "example.com.", "localhost", "a-b.c9"}) {
    CAPTURE(ok);
    CHECK(IsExactDnsName(ok));
  }
  for (const char* bad : {"", ".", "*.example.com", "-a.com", "a..com", "a_b.com", "a b",
                          "**.x"}) {
    CAPTURE(bad);
    CHECK_FALSE(IsExactDnsName(bad));
  }
}

}  // namespace
}  // namespace osgv
