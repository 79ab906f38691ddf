// From the gateway's SandboxPolicy (the endpoints the driver layer kept,
// sandbox.h) to the NetworkFence the host network enforces, for v0.1.x/Ryno
// sandboxes (docs/network.md, "Policy fence"). Pure: the names are looked up
// by the caller (host_resolver.h), at create and at each Start.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "lifecycle/network/sandbox_network.h"
#include "openshell_gvisor/sandbox.h"

namespace osgv {

// The names to look up: each endpoint's host that is not an IPv4 literal,
// lowercased, without a final dot, once each, sorted.
std::vector<std::string> PolicyHostNames(const SandboxNetworkPolicy& policy);

// `resolved`: name (as PolicyHostNames gives it) -> its IPv4 addresses; a
// name missing or without any allows nothing. Per endpoint:
//   host set:  its addresses (an IPv4 literal: itself), kept only where they
//              fall in allowed_ips when those are given; each address goes
//              into /etc/hosts under the name;
//   host "":   the IPv4 allowed_ips themselves;
// on the endpoint's ports. IPv6 is dropped (sandboxes have IPv4 only;
// FenceLimitations says so).
NetworkFence BuildNetworkFence(const SandboxNetworkPolicy& policy,
                               const std::map<std::string, std::vector<std::string>>& resolved);

// What the driver knows about the sandbox's network when it decides.
struct FenceContext {
  bool networked = false;       // network.mode sandbox for this sandbox
  bool egress_allowed = true;   // network.egress
  std::string subnet;           // network.subnet
};

// The lines this host adds to the gateway's not_enforced list: with no
// network (network.mode none) every endpoint is unreachable; with egress
// denied only the bridge address is; IPv6 allowed_ips, and allowed_ips in
// loopback, link-local or the sandbox subnet, are never reachable. Empty
// when the policy has no endpoint.
std::vector<std::string> FenceLimitations(const SandboxNetworkPolicy& policy,
                                          const FenceContext& context);

}  // namespace osgv
