// The pin's wire (v0.0.111): what its gateway sends and reads, for the
// shared client source. Included by generations/v0.h after it set `pb`.
// wire_v01.h offers the same functions for the v0.1.2 shape.
#pragma once

#include <string>

#include "gateway_checks.h"
#include "rpc_util.h"
#include "session.h"

namespace osgv::contract {

inline constexpr int kStartCalls = 1;  // a pin gateway sends one Start, no generation id

// Right after GetCapabilities the pin gateway asks which extra listeners
// the driver needs: UNIMPLEMENTED means none; any other error, a
// requirement without a selector, or a bind address that is not IP:port
// stops its start-up (gateway-contract.md §1.1).
inline absl::Status CheckListenerRequirements(Session& s) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx, absl::Seconds(10));
  pb::GetGatewayListenerRequirementsRequest req;
  pb::GetGatewayListenerRequirementsResponse resp;
  auto st = s.stub->GetGatewayListenerRequirements(&ctx, req, &resp);
  if (st.error_code() == grpc::StatusCode::UNIMPLEMENTED) return absl::OkStatus();
  if (!st.ok()) return RpcFailed("GetGatewayListenerRequirements", st);
  for (const auto& r : resp.requirements()) {
    if (r.selector_case() == pb::GatewayListenerRequirement::SELECTOR_NOT_SET) {
      return absl::FailedPreconditionError(
          "GetGatewayListenerRequirements: a requirement without a selector (reason '" +
          r.reason() + "')");
    }
    if (r.has_exact_bind_address() && !IsSocketAddress(r.exact_bind_address())) {
      return absl::FailedPreconditionError("GetGatewayListenerRequirements: exact_bind_address '" +
                                           r.exact_bind_address() + "' is not IP:port");
    }
  }
  return absl::OkStatus();
}

// At start-up the pin gateway sends GetCapabilitiesRequest{} and uses
// driver_name and default_image; it aborts only when the call fails.
// Then it asks for listener requirements.
inline absl::Status Startup(Session& s) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx, absl::Seconds(10));
  pb::GetCapabilitiesRequest req;
  pb::GetCapabilitiesResponse resp;
  if (auto st = s.stub->GetCapabilities(&ctx, req, &resp); !st.ok()) {
    return RpcFailed("GetCapabilities (empty request, as the pin's gateway sends it)", st);
  }
  if (resp.driver_name().empty()) {
    return absl::FailedPreconditionError("GetCapabilitiesResponse.driver_name (field 1) is empty");
  }
  s.driver_name = resp.driver_name();
  return CheckListenerRequirements(s);
}

// The pin gateway calls GetCapabilities only at start-up.
inline absl::Status BeforeOperation(Session&, const std::string&) { return absl::OkStatus(); }
// Nothing in the pin's request can be refused.
inline absl::Status CapabilityRefusals(Session&) { return absl::OkStatus(); }

template <class Request>
void SetName(Request* r, const std::string& name) {
  r->set_sandbox_name(name);
}

inline void FillCreateSpec(pb::DriverSandboxSpec*) {}
inline void FillStart(pb::StartSandboxRequest*, const std::string&) {}
inline absl::Status CheckCreated(const Session&, const pb::CreateSandboxResponse&) {
  return absl::OkStatus();
}
inline absl::Status CheckStarted(const Session&, const pb::StartSandboxResponse&) {
  return absl::OkStatus();
}

// The pin reads DriverCondition.last_transition_time (5), an RFC 3339 string.
inline absl::Status CheckConditionTime(const pb::DriverCondition& c, absl::Time now) {
  const std::string what = "condition " + c.type() + ": last_transition_time (field 5)";
  if (c.last_transition_time().empty() && HasUnknownField(c, 105)) {
    return absl::FailedPreconditionError(
        what + " is empty; the driver filled only transition_time (field 105), which the pin's "
               "gateway does not know");
  }
  return CheckRecentRfc3339(what, c.last_transition_time(), now, absl::Minutes(1));
}

// The pin reads DriverPlatformEvent.timestamp_ms (1), ms since the epoch.
inline absl::Status CheckEventTime(const pb::DriverPlatformEvent& e, absl::Time now) {
  const std::string what = "platform event " + e.reason() + ": timestamp_ms (field 1)";
  if (e.timestamp_ms() == 0) {
    return absl::FailedPreconditionError(
        what + " is 0" +
        (HasUnknownField(e, 101)
             ? "; the driver filled only event_time (field 101), which the pin's gateway does "
               "not know"
             : ""));
  }
  return CheckRecent(what, absl::FromUnixMillis(e.timestamp_ms()), now, absl::Minutes(1));
}

}  // namespace osgv::contract
