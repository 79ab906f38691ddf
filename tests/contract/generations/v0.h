// The pin's gateway (NVIDIA/OpenShell 2f7fb65 = v0.0.111): the names the
// shared client source needs, for osgv_contract_client_v0. Generated from
// proto/v0.0.111 only.
#pragma once

#include "compute_driver.grpc.pb.h"

namespace osgv::contract {
namespace pb = ::openshell::compute::v1;
inline constexpr char kGeneration[] = "v0.0.111 (2f7fb65)";
inline constexpr char kTag[] = "v0";  // in sandbox names and default ids
}  // namespace osgv::contract

#include "wire_pin.h"
