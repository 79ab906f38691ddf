// What a gateway keeps about the driver after its start-up GetCapabilities.
// Included by the wire headers once a generation header has set `pb`.
#pragma once

#include <memory>
#include <string>

namespace osgv::contract {

struct Session {
  std::unique_ptr<pb::ComputeDriver::Stub> stub;
  std::string driver_name;
  // v0.1.x and Ryno: the first resource_admission_policy, which every later
  // GetCapabilities must repeat byte for byte (gateway-contract-v01.md §3.3).
  std::string policy;
  // v0.1.x and Ryno: whether Create and Start must return a runtime identity.
  bool supports_authentication = false;
};

}  // namespace osgv::contract
