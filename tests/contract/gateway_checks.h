// What an upstream gateway checks in a compute driver's answers, written
// against plain structs so that one copy serves the three contract clients
// (each client copies its own generation's messages into these). The rules
// and messages follow gateway-contract-v01.md §3.2, §3.3 (negotiate(), the
// admission acknowledgement) and gateway-contract.md §4.1 (derive_phase).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace osgv::contract {

// A PeerMetadata (extension.proto), whichever package it came from.
struct PeerInfo {
  bool has_protocol_version = false;
  uint32_t major = 0;
  uint32_t minor = 0;
  std::string implementation_name;
  std::string implementation_version;
  std::vector<std::string> supported_capabilities;
  std::vector<std::string> required_capabilities;
};

// The metadata the gateway of family `prefix` ("openshell" or "ryno") sends
// in GetCapabilitiesRequest.gateway (§3.1). `launch_authentication` adds
// `<p>.compute.launch-authentication` to its supported list, as Ryno does.
PeerInfo GatewayMetadata(const std::string& prefix, const std::string& gateway_version,
                         bool launch_authentication);

// negotiate() of §3.2: `driver` is GetCapabilitiesResponse.extension
// (nullopt when absent), `driver_name` names it in the messages.
// FAILED_PRECONDITION with upstream's wording on the first rule broken.
absl::Status Negotiate(const std::optional<PeerInfo>& driver, const PeerInfo& gateway,
                       const std::string& prefix, const std::string& driver_name);

// Check 1 of §3.3 for a gateway whose `[<p>.drivers.<name>]` table sets no
// `allow_driver_config` and no `resource_admission`: "v1:" + JSON that
// parses with only the known keys and, defaults filled in, equals the
// default policy.
absl::Status CheckDefaultAdmissionPolicy(const std::string& policy, const std::string& prefix);

// The pin gateway's check of a listener requirement's exact_bind_address:
// a valid "IP:port" ("[v6]:port" for IPv6), as Rust's SocketAddr parses it.
bool IsSocketAddress(const std::string& text);

// A DriverCondition, whichever package it came from (timestamps aside).
struct Condition {
  std::string type;
  std::string status;
  std::string reason;
  std::string message;
};

enum class Phase { kDeleting, kStopped, kReady, kProvisioning, kError };
const char* PhaseName(Phase p);

// derive_phase (gateway-contract.md §4.1): how a gateway maps one snapshot.
Phase DerivePhase(const std::vector<Condition>& conditions, bool deleting);
const Condition* FindCondition(const std::vector<Condition>& conditions, const std::string& type);

// `what` happened at `t`, which must lie within `slack` of `now` (a
// timestamp filled from the wrong clock, or not at all, does not).
absl::Status CheckRecent(const std::string& what, absl::Time t, absl::Time now,
                         absl::Duration slack);
// An RFC 3339 string (the pin's DriverCondition.last_transition_time).
absl::Status CheckRecentRfc3339(const std::string& what, const std::string& text, absl::Time now,
                                absl::Duration slack);

}  // namespace osgv::contract
