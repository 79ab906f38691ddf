// The policy fence of v0.1.x/Ryno sandboxes: from the gateway's endpoints to
// rules and /etc/hosts names (policy_fence.h), the nft text for them
// (RenderRuleset), the not-enforced lines, and the bounded name lookups
// (host_resolver.h). Pure or fake-backed: no root, no DNS.
#include "lifecycle/network/policy_fence.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "lifecycle/network/host_resolver.h"

namespace osgv {
namespace {

SandboxNetworkPolicy Policy() {
  SandboxNetworkPolicy p;
  p.present = true;
  p.endpoints = {
      {"API.Example.com.", {443, 443, 8443}, {}},       // a name, ports deduplicated
      {"db.internal", {5432}, {"10.0.5.0/24"}},         // a name, kept within allowed_ips
      {"", {53, 853}, {"10.0.5.7/16", "2001:db8::1"}},  // addresses only; IPv6 dropped
      {"192.0.2.10", {22}, {}},                         // an IPv4 literal as host
      {"gone.example.com", {80}, {}},                   // does not resolve
  };
  return p;
}

TEST_CASE("PolicyHostNames: names to look up, once each, no IP literals", "[policy_fence]") {
  CHECK(PolicyHostNames(Policy()) ==
        std::vector<std::string>{"api.example.com", "db.internal", "gone.example.com"});
  CHECK(PolicyHostNames({}).empty());
}

TEST_CASE("BuildNetworkFence: exactly the endpoints, on their ports", "[policy_fence]") {
  const std::map<std::string, std::vector<std::string>> resolved = {
      {"api.example.com", {"93.184.216.34", "93.184.216.35"}},
      {"db.internal", {"10.0.5.9", "10.0.6.9"}},  // 10.0.6.9 is outside allowed_ips
  };
  NetworkFence fence = BuildNetworkFence(Policy(), resolved);
  REQUIRE(fence.rules.size() == 4);
  CHECK(fence.rules[0].destinations == std::vector<std::string>{"93.184.216.34", "93.184.216.35"});
  CHECK(fence.rules[0].ports == std::vector<uint16_t>{443, 8443});
  CHECK(fence.rules[1].destinations == std::vector<std::string>{"10.0.5.9"});
  CHECK(fence.rules[1].ports == std::vector<uint16_t>{5432});
  // Host bits cleared, so nft gets a canonical prefix.
  CHECK(fence.rules[2].destinations == std::vector<std::string>{"10.0.0.0/16"});
  CHECK(fence.rules[2].ports == std::vector<uint16_t>{53, 853});
  CHECK(fence.rules[3].destinations == std::vector<std::string>{"192.0.2.10"});
  // The names the sandbox resolves without DNS; an IP literal needs none.
  using Host = std::pair<std::string, std::string>;
  CHECK(fence.hosts == std::vector<Host>{{"10.0.5.9", "db.internal"},
                                         {"93.184.216.34", "api.example.com"},
                                         {"93.184.216.35", "api.example.com"}});
  // No policy (or no endpoint): deny all.
  CHECK(BuildNetworkFence({}, resolved).rules.empty());
}

TEST_CASE("FenceLimitations: what this host cannot reach is said, not hidden", "[policy_fence]") {
  FenceContext networked{true, true, "10.89.0.0/16"};
  SandboxNetworkPolicy p = Policy();
  p.endpoints.push_back({"", {80}, {"169.254.169.254", "10.89.0.0/24"}});
  auto lines = FenceLimitations(p, networked);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] == "allowed_ips 2001:db8::1: sandboxes have IPv4 only; not reachable");
  CHECK_THAT(lines[1], Catch::StartsWith("allowed_ips 169.254.169.254, 10.89.0.0/24: loopback"));

  auto none = FenceLimitations(Policy(), {false, true, "10.89.0.0/16"});
  CHECK(none == std::vector<std::string>{"network.mode is none: no endpoint is reachable"});

  auto deny = FenceLimitations(Policy(), {true, false, "10.89.0.0/16"});
  REQUIRE_FALSE(deny.empty());
  CHECK_THAT(deny[0], Catch::StartsWith("network.egress is deny on this driver"));

  CHECK(FenceLimitations({}, {false, false, "10.89.0.0/16"}).empty());

  // The bridge address is the one address of those ranges a fence opens,
  // and it needs no egress.
  SandboxNetworkPolicy bridge_only;
  bridge_only.endpoints = {{"", {9000}, {"10.89.0.1"}}};
  CHECK(FenceLimitations(bridge_only, {true, false, "10.89.0.0/16"}).empty());
  bridge_only.endpoints[0].allowed_ips = {"10.89.0.2"};
  CHECK(FenceLimitations(bridge_only, {true, false, "10.89.0.0/16"}).size() == 2);
}

TEST_CASE("RenderRuleset: a fenced sandbox gets its endpoints and nothing else", "[policy_fence]") {
  RulesetInputs in;
  in.gateway_port = 8080;
  in.ports = {{"osgvhabcdef0123", "10.89.0.7"}, {"osgvh999999999", "10.89.0.8"}};
  in.fences["10.89.0.7"] = {{{"93.184.216.34", "10.0.0.0/16"}, {443, 8443}},
                            {{"10.89.0.1"}, {9000}}};
  const std::string rs = RenderRuleset(in);
  const std::string from = "iifname \"osgv0\" ip saddr 10.89.0.7";
  // Forwarded: the policy's destinations, then a refusal of everything else,
  // all before the generic egress accept that other sandboxes get.
  const size_t allow = rs.find(from + " ip daddr 93.184.216.34 tcp dport { 443, 8443 } accept");
  const size_t allow_net = rs.find(from + " ip daddr 10.0.0.0/16 tcp dport { 443, 8443 } accept");
  const size_t refuse = rs.find(from + " meta l4proto tcp reject with tcp reset", allow_net);
  REQUIRE(allow != std::string::npos);
  REQUIRE(allow_net != std::string::npos);
  REQUIRE(refuse != std::string::npos);
  CHECK(refuse < rs.find("comment \"egress\""));
  // Forwarded rules come after the blocked ranges (loopback, link-local,
  // the subnet stay refused whatever the policy says).
  CHECK(rs.find("ip daddr { 169.254.0.0/16") < allow);
  // On this host: only the bridge address the policy names, and the gateway
  // port is refused to the fenced sandbox before it is opened to others.
  const size_t host_allow = rs.find(from + " ip daddr 10.89.0.1 tcp dport { 9000 } accept");
  const size_t host_refuse = rs.find(from + " meta l4proto tcp reject with tcp reset");
  REQUIRE(host_allow != std::string::npos);
  CHECK(host_allow < host_refuse);
  CHECK(host_refuse < rs.find("ip daddr 10.89.0.1 tcp dport 8080 accept comment \"gateway\""));
  CHECK(rs.find(from + " ip daddr 10.89.0.1 tcp dport { 9000 }", host_allow + 1) ==
        std::string::npos);  // not forwarded as well
  // The other sandbox has no fence lines.
  CHECK_FALSE(absl::StrContains(rs, "ip saddr 10.89.0.8"));

  // Egress denied by the operator: nothing is forwarded for the fence either.
  in.egress_allowed = false;
  const std::string denied = RenderRuleset(in);
  CHECK_FALSE(absl::StrContains(denied, "ip daddr 93.184.216.34"));
  CHECK(absl::StrContains(denied, from + " ip daddr 10.89.0.1 tcp dport { 9000 } accept"));
  CHECK(absl::StrContains(denied, from + " meta l4proto tcp reject with tcp reset"));
}

TEST_CASE("hosts file: fence names after the fixed entries, junk left out", "[policy_fence]") {
  const std::string hosts =
      RenderHostsFile("10.89.0.7", "10.89.0.1", "agent",
                      {{"93.184.216.34", "api.example.com"},
                       {"10.0.5.9", "db.internal"},
                       {"not-an-ip", "x.example.com"},
                       {"10.0.0.1", "evil\n6.6.6.6 bank.example.com"},
                       {"2001:db8::1", "v6.example.com"}});
  CHECK(hosts ==
        "# Generated by openshell-driver-gvisor; mounted read-only.\n"
        "127.0.0.1\tlocalhost\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n"
        "10.89.0.7\tagent\n"
        "10.89.0.1\thost.openshell.internal\n"
        "93.184.216.34\tapi.example.com\n"
        "10.0.5.9\tdb.internal\n");
}

TEST_CASE("IPv4 prefixes: parse, canonical form, overlap", "[policy_fence]") {
  auto p = ParseIpv4Prefix("10.0.5.7/24");
  REQUIRE(p.ok());
  CHECK(FormatIpv4Prefix(p->first, p->second) == "10.0.5.0/24");
  CHECK(FormatIpv4Prefix(ParseIpv4Prefix("10.0.5.7")->first, 32) == "10.0.5.7");
  CHECK(FormatIpv4Prefix(ParseIpv4Prefix("1.2.3.4/0")->first, 0) == "0.0.0.0/0");
  for (const char* bad : {"10.0.5.0/33", "10.0.5.0/", "10.0.5.0/+1", "::1", "10.0.5.0/24 "}) {
    CAPTURE(bad);
    CHECK_FALSE(ParseIpv4Prefix(bad).ok());
  }
  CHECK(PrefixesOverlap(*ParseIpv4Prefix("10.0.0.0/8"), *ParseIpv4Prefix("10.1.2.3")));
  CHECK_FALSE(PrefixesOverlap(*ParseIpv4Prefix("10.0.0.0/16"), *ParseIpv4Prefix("10.1.0.0/16")));
}

TEST_CASE("SystemHostResolver: every name answered, a stuck one given up", "[policy_fence]") {
  // The "stuck" lookup blocks until released, so the deadline is what ends
  // the wait; it is released at the end and finishes on its own thread.
  struct Gate {
    std::mutex mu;
    std::condition_variable cv;
    bool open = false;
  };
  auto gate = std::make_shared<Gate>();
  SystemHostResolver resolver([gate](const std::string& name)
                                  -> absl::StatusOr<std::vector<std::string>> {
    if (name == "stuck.example") {
      std::unique_lock<std::mutex> lock(gate->mu);
      gate->cv.wait(lock, [&] { return gate->open; });
      return std::vector<std::string>{"192.0.2.1"};
    }
    if (name == "missing.example") return absl::NotFoundError("no such name");
    return std::vector<std::string>{"192.0.2.2"};
  });
  auto quick = resolver.Resolve({"a.example", "missing.example", "a.example"},
                                std::chrono::hours(1));  // all answer: no waiting
  REQUIRE(quick.size() == 2);
  CHECK(quick.at("a.example").value() == std::vector<std::string>{"192.0.2.2"});
  CHECK(quick.at("missing.example").status().code() == absl::StatusCode::kNotFound);

  auto results = resolver.Resolve({"a.example", "stuck.example"}, std::chrono::milliseconds(0));
  CHECK(results.at("stuck.example").status().code() == absl::StatusCode::kDeadlineExceeded);
  {
    std::lock_guard<std::mutex> lock(gate->mu);
    gate->open = true;
  }
  gate->cv.notify_all();
}

TEST_CASE("LookupIpv4 answers from the system resolver", "[policy_fence]") {
  // localhost is in every /etc/hosts; no network involved.
  auto local = LookupIpv4("localhost");
  REQUIRE(local.ok());
  CHECK(std::find(local->begin(), local->end(), "127.0.0.1") != local->end());
}

}  // namespace
}  // namespace osgv
