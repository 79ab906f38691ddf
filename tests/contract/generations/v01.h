// A v0.1.x gateway (NVIDIA/OpenShell v0.1.2, 6648bd0c): the names the shared
// client source needs, for osgv_contract_client_v01. Generated from
// proto/v0.1.2 only.
#pragma once

#include "compute_driver.grpc.pb.h"

namespace osgv::contract {
namespace pb = ::openshell::compute::v1;
namespace ext = ::openshell::extension::v1;
inline constexpr char kGeneration[] = "v0.1.2 (6648bd0c)";
inline constexpr char kTag[] = "v01";
inline constexpr char kPrefix[] = "openshell";      // capabilities, admission labels
inline constexpr char kOtherPrefix[] = "ryno";      // a well-formed capability of the wrong family
inline constexpr char kGatewayVersion[] = "0.1.2";
// Whether v0.1.2's gateway lists openshell.compute.launch-authentication
// was not determined (gateway-contract-v01.md §3.1): send the smaller list.
inline constexpr bool kGatewayOffersLaunchAuthentication = false;
// A v0.1.x gateway shares the service name with the pin's, so a request
// without `gateway` is a pin gateway's and must be served.
inline constexpr bool kDriverRequiresGatewayMetadata = false;
}  // namespace osgv::contract

#include "wire_v01.h"
