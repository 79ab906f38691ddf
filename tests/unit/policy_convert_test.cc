#include "driver/policy_convert.h"

#include <catch2/catch.hpp>

#include "absl/strings/match.h"

namespace osgv {
namespace {

namespace sb = ::openshell::sandbox::v1;

sb::NetworkEndpoint* AddEndpoint(sb::SandboxPolicy* policy, const std::string& rule) {
  return (*policy->mutable_network_policies())[rule].add_endpoints();
}

bool Mentions(const SandboxNetworkPolicy& p, const std::string& text) {
  for (const auto& line : p.not_enforced) {
    if (absl::StrContains(line, text)) return true;
  }
  return false;
}

TEST_CASE("policy: exact hosts and IPs with ports become endpoints; nothing is reported",
          "[policy]") {
  sb::SandboxPolicy policy;
  auto* github = AddEndpoint(&policy, "github");
  github->set_host("API.GitHub.com");
  github->set_port(443);
  auto* internal = AddEndpoint(&policy, "internal");
  internal->add_allowed_ips("10.0.5.0/24");
  internal->add_ports(8080);
  internal->add_ports(8443);
  internal->set_port(1);  // `ports` wins
  auto p = NetworkPolicyFromProto(policy);
  CHECK(p.present);
  CHECK(p.not_enforced.empty());
  REQUIRE(p.endpoints.size() == 2);
  CHECK(p.endpoints[0].host == "api.github.com");
  CHECK(p.endpoints[0].ports == std::vector<uint32_t>{443});
  CHECK(p.endpoints[1].host.empty());
  CHECK(p.endpoints[1].allowed_ips == std::vector<std::string>{"10.0.5.0/24"});
  CHECK(p.endpoints[1].ports == std::vector<uint32_t>{8080, 8443});
}

TEST_CASE("policy: what a fence of addresses cannot enforce is listed, never widened silently",
          "[policy]") {
  sb::SandboxPolicy policy;
  policy.mutable_filesystem()->add_read_only("/usr");
  policy.mutable_landlock()->set_compatibility("best_effort");
  (*policy.mutable_network_middlewares())["m"].set_middleware("x");
  auto& rule = (*policy.mutable_network_policies())["agent"];
  rule.add_binaries()->set_path("/usr/bin/curl");
  auto* glob = rule.add_endpoints();
  glob->set_host("*.example.com");
  glob->set_port(443);
  auto* l7 = rule.add_endpoints();
  l7->set_host("api.example.org");
  l7->set_port(443);
  l7->set_protocol("rest");
  auto* portless = rule.add_endpoints();
  portless->set_host("no-port.example.org");

  auto p = NetworkPolicyFromProto(policy);
  CHECK(Mentions(p, "filesystem"));
  CHECK(Mentions(p, "landlock"));
  CHECK(Mentions(p, "network_middlewares"));
  CHECK(Mentions(p, "'agent']" ".binaries"));
  CHECK(Mentions(p, "host glob '*.example.com' cannot be resolved; not allowed"));
  CHECK(Mentions(p, "(L7) are not inspected"));
  CHECK(Mentions(p, "endpoints[2]: no port; not allowed"));
  // Only the L7 endpoint is opened, at L4; the glob and the portless one are not.
  REQUIRE(p.endpoints.size() == 1);
  CHECK(p.endpoints[0].host == "api.example.org");
}

TEST_CASE("policy: the list of unenforced parts is bounded", "[policy]") {
  sb::SandboxPolicy policy;
  for (int i = 0; i < 100; ++i) AddEndpoint(&policy, "r" + std::to_string(i))->set_host("x.example");
  auto p = NetworkPolicyFromProto(policy);
  CHECK(p.not_enforced.size() == 33);
  CHECK(p.not_enforced.back() == "... and 68 more");
}

}  // namespace
}  // namespace osgv
