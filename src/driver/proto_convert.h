// proto <-> lifecycle types, and absl::Status -> grpc::Status. Nothing else.
#pragma once

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "compute_driver.pb.h"
#include "openshell_gvisor/sandbox.h"

namespace osgv {

namespace pb = ::openshell::compute::v1;

// `generation`: the gateway generation of the call (negotiation.h); the
// v0.1.x fields are read only for v0.1.x and Ryno calls.
SandboxRequest FromProto(const pb::DriverSandbox& sandbox, GatewayGeneration generation);
void ToProto(const SandboxSnapshot& snapshot, pb::DriverSandbox* out);
void ToProto(const WatchEvent& event, pb::WatchSandboxesEvent* out);

// absl and gRPC share code numbers; the message passes through unchanged.
grpc::Status ToGrpc(const absl::Status& status);

}  // namespace osgv
