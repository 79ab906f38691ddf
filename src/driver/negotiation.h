// Extension negotiation with v0.1.x and Ryno gateways
// (gateway-contract-v01.md §3): check the gateway's peer metadata the way
// upstream's negotiate() checks ours, and answer GetCapabilities for the
// generation that is calling.
#pragma once

#include <grpcpp/grpcpp.h>

#include <string>

#include "capabilities/capabilities.h"
#include "compute_driver.pb.h"
#include "openshell_gvisor/sandbox.h"

namespace osgv {

// "openshell" for v0.0.x and v0.1.x, "ryno" for Ryno: the family prefix of
// capability names, which each gateway requires and the other rejects.
const char* FamilyPrefix(GatewayGeneration generation);

// OK, or INVALID_ARGUMENT for malformed metadata (names, capability syntax,
// duplicates), FAILED_PRECONDITION for a protocol major other than 1 or a
// capability the gateway requires and this driver lacks. Messages start
// with the field ("gateway.required_capabilities: ...").
grpc::Status CheckGatewayMetadata(const ::openshell::extension::v1::PeerMetadata& gateway,
                                  GatewayGeneration generation);

// The whole answer for one generation. v0.0.x gets the pin's four fields
// only; v0.1.x and Ryno also get peer metadata, the admission
// acknowledgement and the rest of §3.4. Deterministic: the same
// capabilities give the same bytes on every call.
void FillCapabilities(const DriverCapabilities& capabilities, GatewayGeneration generation,
                      ::openshell::compute::v1::GetCapabilitiesResponse* out);

}  // namespace osgv
