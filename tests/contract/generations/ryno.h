// A Ryno gateway (NVIDIA/OpenShell 0b37da61): the names the shared client
// source needs, for osgv_contract_client_ryno. Generated from proto/ryno only.
#pragma once

#include "compute_driver.grpc.pb.h"

namespace osgv::contract {
namespace pb = ::ryno::compute::v1;
namespace ext = ::ryno::extension::v1;
inline constexpr char kGeneration[] = "Ryno (0b37da61)";
inline constexpr char kTag[] = "ryno";
inline constexpr char kPrefix[] = "ryno";
inline constexpr char kOtherPrefix[] = "openshell";
inline constexpr char kGatewayVersion[] = "0.0.0+0b37da61";
// crates/ryno-core/src/extension_protocol.rs @ 0b37da61 lists both.
inline constexpr bool kGatewayOffersLaunchAuthentication = true;
// No older Ryno gateway exists: the driver refuses a request without
// `gateway` on this service (v01-brief, "Wire").
inline constexpr bool kDriverRequiresGatewayMetadata = true;
}  // namespace osgv::contract

#include "wire_v01.h"
