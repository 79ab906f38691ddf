// What a v0.1.x or Ryno gateway may ask of a sandbox, checked on top of
// ValidateSandboxRequest (which calls CheckGenerationRequest).
//
// In that mode ("driver-reported readiness", docs/supervisor.md) no
// supervisor runs in the sandbox: the driver reports Ready itself, the
// workload runs directly, and the network fence enforces the L4 part of the
// gateway's SandboxPolicy (docs/network.md, "Policy fence"). What the mode
// cannot do is refused here; pin-era (kV0) requests never carry these fields
// and pass untouched.
//
// Pure: no I/O. Messages start with the field path and never echo more than
// a bounded, escaped value.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "openshell_gvisor/sandbox.h"

namespace osgv {

// At most this many endpoints per sandbox policy (after the driver layer has
// flattened network_policies): each becomes firewall rules and, with a host,
// one name lookup at every Start.
inline constexpr size_t kMaxPolicyEndpoints = 256;

// The sandbox belongs to a v0.1.x or Ryno gateway: no supervisor, no token,
// the policy fence.
bool IsDriverReadinessMode(const SandboxSpec& spec);

// OK for kV0. Otherwise, in order:
//   await_main_process_attachment = true   FAILED_PRECONDITION
//   a workload user/group selector other than "", "sandbox" or 1..4294967294
//                                          INVALID_ARGUMENT
//   an endpoint without ports, a port outside 1..65535, an allowed_ip that
//   is not an IPv4/IPv6 address or CIDR, a host that is not an exact DNS
//   name, too many endpoints               INVALID_ARGUMENT
absl::Status CheckGenerationRequest(const SandboxSpec& spec);

// One IPv4 or IPv6 address, optionally with a /prefix no longer than the
// address ("10.0.5.0/24", "2001:db8::/32", "10.0.5.20").
bool IsIpOrCidr(const std::string& text);
// An exact DNS name: dot-separated labels of letters, digits and inner
// hyphens (1-63 each, 253 in all), an optional final dot. No wildcards.
bool IsExactDnsName(const std::string& text);

}  // namespace osgv
