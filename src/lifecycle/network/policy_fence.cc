#include "lifecycle/network/policy_fence.h"

#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

namespace osgv {
namespace {

std::string CanonicalName(const std::string& host) {
  absl::string_view name = host;
  absl::ConsumeSuffix(&name, ".");
  return absl::AsciiStrToLower(name);
}

bool IsIpv4Literal(const std::string& host) { return ParseIpv4(host).ok(); }

// The endpoint's IPv4 allowed_ips as prefixes (IPv6 ones are skipped).
std::vector<std::pair<uint32_t, int>> Ipv4Allowed(const PolicyEndpoint& endpoint) {
  std::vector<std::pair<uint32_t, int>> out;
  for (const auto& text : endpoint.allowed_ips) {
    if (auto prefix = ParseIpv4Prefix(text); prefix.ok()) out.push_back(*prefix);
  }
  return out;
}

bool Within(uint32_t address, const std::vector<std::pair<uint32_t, int>>& allowed) {
  for (const auto& prefix : allowed) {
    if (prefix.second <= 32 && PrefixesOverlap({address, 32}, prefix)) return true;
  }
  return false;
}

std::vector<uint16_t> Ports(const PolicyEndpoint& endpoint) {
  std::set<uint16_t> ports;
  for (uint32_t p : endpoint.ports) {
    if (p >= 1 && p <= 65535) ports.insert(static_cast<uint16_t>(p));
  }
  return {ports.begin(), ports.end()};
}

}  // namespace

std::vector<std::string> PolicyHostNames(const SandboxNetworkPolicy& policy) {
  std::set<std::string> names;
  for (const auto& endpoint : policy.endpoints) {
    if (!endpoint.host.empty() && !IsIpv4Literal(endpoint.host)) {
      names.insert(CanonicalName(endpoint.host));
    }
  }
  return {names.begin(), names.end()};
}

NetworkFence BuildNetworkFence(const SandboxNetworkPolicy& policy,
                               const std::map<std::string, std::vector<std::string>>& resolved) {
  NetworkFence fence;
  std::set<std::pair<std::string, std::string>> hosts;
  for (const auto& endpoint : policy.endpoints) {
    FenceRule rule;
    rule.ports = Ports(endpoint);
    const auto allowed = Ipv4Allowed(endpoint);
    if (endpoint.host.empty()) {
      for (const auto& [base, length] : allowed) {
        rule.destinations.push_back(FormatIpv4Prefix(base, length));
      }
    } else {
      const std::string name = CanonicalName(endpoint.host);
      std::vector<std::string> addresses;
      if (IsIpv4Literal(endpoint.host)) {
        addresses.push_back(endpoint.host);
      } else if (auto it = resolved.find(name); it != resolved.end()) {
        addresses = it->second;
      }
      for (const auto& text : addresses) {
        auto address = ParseIpv4(text);
        if (!address.ok() || (!endpoint.allowed_ips.empty() && !Within(*address, allowed))) {
          continue;
        }
        rule.destinations.push_back(FormatIpv4(*address));
        if (!IsIpv4Literal(endpoint.host)) hosts.insert({FormatIpv4(*address), name});
      }
    }
    if (!rule.destinations.empty() && !rule.ports.empty()) fence.rules.push_back(std::move(rule));
  }
  fence.hosts.assign(hosts.begin(), hosts.end());
  return fence;
}

std::vector<std::string> FenceLimitations(const SandboxNetworkPolicy& policy,
                                          const FenceContext& context) {
  std::vector<std::string> lines;
  if (policy.endpoints.empty()) return lines;
  if (!context.networked) {
    lines.push_back("network.mode is none: no endpoint is reachable");
    return lines;
  }
  auto subnet = ParseIpv4Prefix(context.subnet);
  // The one address in the blocked ranges a fence may open.
  const std::pair<uint32_t, int> bridge = {subnet.ok() ? subnet->first + 1 : 0u, 32};
  const std::pair<uint32_t, int> never[] = {
      {0x7f000000u, 8}, {0xa9fe0000u, 16}, subnet.ok() ? *subnet : bridge};
  bool off_host = false;  // an endpoint that is not exactly the bridge address
  std::vector<std::string> ipv6;
  std::vector<std::string> blocked;
  for (const auto& endpoint : policy.endpoints) {
    off_host = off_host || !endpoint.host.empty();
    for (const auto& text : endpoint.allowed_ips) {
      auto prefix = ParseIpv4Prefix(text);
      if (!prefix.ok()) {
        ipv6.push_back(text);
        continue;
      }
      if (*prefix == bridge) continue;
      off_host = true;
      for (const auto& range : never) {
        if (PrefixesOverlap(*prefix, range)) {
          blocked.push_back(text);
          break;
        }
      }
    }
  }
  if (!context.egress_allowed && off_host) {
    lines.push_back(
        "network.egress is deny on this driver: only endpoints at the bridge address "
        "(host.openshell.internal) are reachable");
  }
  if (!ipv6.empty()) {
    lines.push_back(absl::StrCat("allowed_ips ", absl::StrJoin(ipv6, ", "),
                                 ": sandboxes have IPv4 only; not reachable"));
  }
  if (!blocked.empty()) {
    lines.push_back(absl::StrCat("allowed_ips ", absl::StrJoin(blocked, ", "),
                                 ": loopback, link-local (169.254.0.0/16) and the sandbox subnet "
                                 "are never reachable, except the bridge address itself"));
  }
  return lines;
}

}  // namespace osgv
