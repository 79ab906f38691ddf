// The v0.1.2 wire, which Ryno repeats under other package names: what a
// v0.1.x or Ryno gateway sends and checks, for the shared client source.
// Included by generations/v01.h and generations/ryno.h after they set `pb`,
// `ext`, kPrefix and the gateway's constants. wire_pin.h offers the same
// functions for the pin.
#pragma once

#include <optional>
#include <string>

#include "gateway_checks.h"
#include "rpc_util.h"
#include "session.h"

namespace osgv::contract {

// A retried Start carries the same generation_id (compute_driver.proto), so
// the client sends each Start twice; both must succeed.
inline constexpr int kStartCalls = 2;
// Opaque to the driver; a gateway with a signing key sends a launch bundle.
inline constexpr char kLaunchAuthentication[] = "contract-test launch bundle (opaque)";

inline PeerInfo FromProto(const ext::PeerMetadata& m) {
  PeerInfo p;
  p.has_protocol_version = m.has_protocol_version();
  p.major = m.protocol_version().major();
  p.minor = m.protocol_version().minor();
  p.implementation_name = m.implementation_name();
  p.implementation_version = m.implementation_version();
  p.supported_capabilities.assign(m.supported_capabilities().begin(),
                                  m.supported_capabilities().end());
  p.required_capabilities.assign(m.required_capabilities().begin(),
                                 m.required_capabilities().end());
  return p;
}

inline void ToProto(const PeerInfo& p, ext::PeerMetadata* m) {
  if (p.has_protocol_version) {
    m->mutable_protocol_version()->set_major(p.major);
    m->mutable_protocol_version()->set_minor(p.minor);
  }
  m->set_implementation_name(p.implementation_name);
  m->set_implementation_version(p.implementation_version);
  for (const auto& c : p.supported_capabilities) m->add_supported_capabilities(c);
  for (const auto& c : p.required_capabilities) m->add_required_capabilities(c);
}

inline PeerInfo Gateway() {
  return GatewayMetadata(kPrefix, kGatewayVersion, kGatewayOffersLaunchAuthentication);
}

// GetCapabilities with `gateway` as the metadata (none when nullopt).
inline grpc::Status CallCapabilities(Session& s, const std::optional<PeerInfo>& gateway,
                                     pb::GetCapabilitiesResponse* resp) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx, absl::Seconds(10));
  pb::GetCapabilitiesRequest req;
  if (gateway) ToProto(*gateway, req.mutable_gateway());
  return s.stub->GetCapabilities(&ctx, req, resp);
}

// ComputeRuntime::from_driver: negotiate(), admission check 1, and what the
// gateway then relies on (§3.2, §3.3, §9).
inline absl::Status Startup(Session& s) {
  pb::GetCapabilitiesResponse r;
  if (auto st = CallCapabilities(s, Gateway(), &r); !st.ok()) {
    return RpcFailed("GetCapabilities with the gateway's metadata (a gateway aborts its start-up)",
                     st);
  }
  std::optional<PeerInfo> driver;
  if (r.has_extension()) driver = FromProto(r.extension());
  if (auto st = Negotiate(driver, Gateway(), kPrefix, r.driver_name()); !st.ok()) return st;
  if (auto st = CheckDefaultAdmissionPolicy(r.resource_admission_policy(), kPrefix); !st.ok()) {
    return st;
  }
  if (!r.driver_reports_runtime_readiness()) {
    return absl::FailedPreconditionError(
        "driver_reports_runtime_readiness (field 8) is false: the gateway would hold every "
        "sandbox in Provisioning until a supervisor session connects, and this client brings "
        "no supervisor (gateway-contract-v01.md §9)");
  }
  s.driver_name = r.driver_name();
  s.policy = r.resource_admission_policy();
  s.supports_authentication = r.supports_sandbox_authentication();
  return absl::OkStatus();
}

// RemoteComputeDriver before every Validate, Create and Start: the policy
// must be byte-identical to the first one (check 2 of §3.3).
inline absl::Status BeforeOperation(Session& s, const std::string& op) {
  pb::GetCapabilitiesResponse r;
  if (auto st = CallCapabilities(s, Gateway(), &r); !st.ok()) {
    return RpcFailed("GetCapabilities before " + op, st);
  }
  if (r.resource_admission_policy() != s.policy) {
    return absl::FailedPreconditionError(absl::StrCat(
        "remote driver admission policy changed; restart gateway after configuring matching "
        "policy (before ",
        op, ": first '", s.policy, "', now '", r.resource_admission_policy(), "')"));
  }
  return absl::OkStatus();
}

// What the driver must refuse of a gateway (§3.2 "Drivers must reject unmet
// requirements"; v01-brief "Wire"). Ends with a good call, so the service
// is left talking to this generation.
inline absl::Status CapabilityRefusals(Session& s) {
  pb::GetCapabilitiesResponse ignored;
  PeerInfo major2 = Gateway();
  major2.major = 2;
  if (auto st = ExpectRefused("GetCapabilities from a gateway speaking protocol 2.0",
                              CallCapabilities(s, major2, &ignored),
                              absl::StatusCode::kFailedPrecondition);
      !st.ok()) {
    return st;
  }
  PeerInfo wrong_prefix = Gateway();
  wrong_prefix.supported_capabilities.push_back(std::string(kOtherPrefix) + ".compute.contract");
  if (auto st = ExpectRefused(
          absl::StrCat("GetCapabilities from a gateway listing '", kOtherPrefix,
                       ".compute.contract' (another family's prefix: malformed here)"),
          CallCapabilities(s, wrong_prefix, &ignored), absl::StatusCode::kInvalidArgument);
      !st.ok()) {
    return st;
  }
  if (kDriverRequiresGatewayMetadata) {
    if (auto st = ExpectRefused("GetCapabilities without gateway metadata (no such gateway of "
                                "this family exists)",
                                CallCapabilities(s, std::nullopt, &ignored),
                                absl::StatusCode::kFailedPrecondition);
        !st.ok()) {
      return st;
    }
  }
  return BeforeOperation(s, "the next operation, after the refused requests");
}

template <class Request>
void SetName(Request* r, const std::string& name) {
  r->set_name(name);
}

inline void FillCreateSpec(pb::DriverSandboxSpec* spec) {
  spec->set_launch_authentication(kLaunchAuthentication);
}

inline void FillStart(pb::StartSandboxRequest* r, const std::string& generation_id) {
  r->set_launch_authentication(kLaunchAuthentication);
  r->set_generation_id(generation_id);
}

// With supports_sandbox_authentication the gateway fails the operation
// without a runtime identity ("compute driver did not return a runtime
// identity") and compensates (§3.4).
inline absl::Status CheckIdentity(const Session& s, const std::string& op,
                                  const std::string& identity) {
  if (!s.supports_authentication || !identity.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(
      op + ": compute driver did not return a runtime identity, although it advertises "
           "supports_sandbox_authentication");
}
inline absl::Status CheckCreated(const Session& s, const pb::CreateSandboxResponse& r) {
  return CheckIdentity(s, "CreateSandbox", r.runtime_identity());
}
inline absl::Status CheckStarted(const Session& s, const pb::StartSandboxResponse& r) {
  return CheckIdentity(s, "StartSandbox", r.runtime_identity());
}

inline absl::Status CheckTimestamp(const std::string& what, const google::protobuf::Timestamp& t,
                                   absl::Time now) {
  if (t.nanos() < 0 || t.nanos() > 999999999) {
    return absl::InvalidArgumentError(absl::StrCat(what, " has nanos ", t.nanos(),
                                                   ", outside 0..999999999"));
  }
  return CheckRecent(what, absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos()),
                     now, absl::Minutes(1));
}

// v0.1.x reads DriverCondition.transition_time (105); field 5 is reserved.
inline absl::Status CheckConditionTime(const pb::DriverCondition& c, absl::Time now) {
  const std::string what = "condition " + c.type() + ": transition_time (field 105)";
  if (!c.has_transition_time()) {
    return absl::FailedPreconditionError(
        what + " is not set" +
        (HasUnknownField(c, 5) ? "; the driver filled only last_transition_time (field 5), "
                                 "which is reserved in v0.1.2 and ignored by this gateway"
                               : ""));
  }
  return CheckTimestamp(what, c.transition_time(), now);
}

// v0.1.x reads DriverPlatformEvent.event_time (101); field 1 is reserved.
inline absl::Status CheckEventTime(const pb::DriverPlatformEvent& e, absl::Time now) {
  const std::string what = "platform event " + e.reason() + ": event_time (field 101)";
  if (!e.has_event_time()) {
    return absl::FailedPreconditionError(
        what + " is not set" +
        (HasUnknownField(e, 1) ? "; the driver filled only timestamp_ms (field 1), which is "
                                 "reserved in v0.1.2 and ignored by this gateway"
                               : ""));
  }
  return CheckTimestamp(what, e.event_time(), now);
}

}  // namespace osgv::contract
