#include "driver/negotiation.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "capabilities/quantity.h"

namespace osgv {
namespace {

namespace ext = ::openshell::extension::v1;

// Upstream's limits for peer metadata (extension_protocol.rs).
constexpr size_t kMaxFieldBytes = 128;
constexpr int kMaxCapabilities = 128;
constexpr uint32_t kProtocolMajor = 1;
constexpr uint32_t kProtocolMinor = 0;

grpc::Status Invalid(const std::string& message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message);
}
grpc::Status Unmet(const std::string& message) {
  return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, message);
}

grpc::Status CheckIdentityField(const char* field, const std::string& value) {
  const std::string where = absl::StrCat("gateway.", field, ": ");
  if (absl::StripAsciiWhitespace(value).empty()) return Invalid(where + "must not be empty");
  if (value.size() > kMaxFieldBytes) {
    return Invalid(absl::StrCat(where, "longer than ", kMaxFieldBytes, " bytes"));
  }
  for (unsigned char c : value) {
    if (c < 0x20 || c == 0x7f) return Invalid(where + "must not contain control characters");
  }
  return grpc::Status::OK;
}

// "<prefix>.a.b": at least three dot-separated segments of [a-z0-9-].
bool IsCapabilityName(const std::string& name, const std::string& prefix) {
  if (name.size() > kMaxFieldBytes || name.rfind(prefix + ".", 0) != 0) return false;
  std::vector<std::string> segments = absl::StrSplit(name, '.');
  if (segments.size() < 3) return false;
  for (const auto& segment : segments) {
    if (segment.empty()) return false;
    for (char c : segment) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
    }
  }
  return true;
}

grpc::Status CheckCapabilityList(const char* field,
                                 const google::protobuf::RepeatedPtrField<std::string>& list,
                                 const std::string& prefix) {
  const std::string where = absl::StrCat("gateway.", field, ": ");
  if (list.size() > kMaxCapabilities) {
    return Invalid(absl::StrCat(where, "more than ", kMaxCapabilities, " entries"));
  }
  std::set<std::string> seen;
  for (const auto& name : list) {
    if (!IsCapabilityName(name, prefix)) {
      return Invalid(absl::StrCat(where, QuoteForMessage(name), " must be a lowercase namespaced identifier under '",
                                  prefix, ".'"));
    }
    if (!seen.insert(name).second) return Invalid(absl::StrCat(where, "contains duplicate ", QuoteForMessage(name)));
  }
  return grpc::Status::OK;
}

std::string ContractCapability(GatewayGeneration generation) {
  return absl::StrCat(FamilyPrefix(generation), ".compute.contract");
}

}  // namespace

const char* FamilyPrefix(GatewayGeneration generation) {
  return generation == GatewayGeneration::kRyno ? "ryno" : "openshell";
}

grpc::Status CheckGatewayMetadata(const ext::PeerMetadata& gateway, GatewayGeneration generation) {
  if (!gateway.has_protocol_version()) {
    return Unmet("gateway.protocol_version: missing; upgrade the gateway to one that negotiates");
  }
  const auto& v = gateway.protocol_version();
  if (v.major() != kProtocolMajor) {
    return Unmet(absl::StrCat("gateway.protocol_version: ", v.major(), ".", v.minor(),
                              " is not supported; this driver speaks ", kProtocolMajor, ".",
                              kProtocolMinor));
  }
  if (auto s = CheckIdentityField("implementation_name", gateway.implementation_name()); !s.ok()) return s;
  if (auto s = CheckIdentityField("implementation_version", gateway.implementation_version()); !s.ok()) {
    return s;
  }
  const std::string prefix = FamilyPrefix(generation);
  if (auto s = CheckCapabilityList("supported_capabilities", gateway.supported_capabilities(), prefix);
      !s.ok()) {
    return s;
  }
  if (auto s = CheckCapabilityList("required_capabilities", gateway.required_capabilities(), prefix);
      !s.ok()) {
    return s;
  }
  // This driver supports exactly the family's contract.
  std::vector<std::string> missing;
  for (const auto& name : gateway.required_capabilities()) {
    if (name != ContractCapability(generation)) missing.push_back(name);
  }
  if (!missing.empty()) {
    return Unmet(absl::StrCat("gateway.required_capabilities: this driver does not support ",
                              absl::StrJoin(missing, ", ")));
  }
  return grpc::Status::OK;
}

void FillCapabilities(const DriverCapabilities& c, GatewayGeneration generation,
                      ::openshell::compute::v1::GetCapabilitiesResponse* out) {
  out->set_driver_name(c.driver_name);
  out->set_driver_version(c.driver_version);
  out->set_default_image(c.default_image);
  out->set_gateway_manages_lifecycle(c.gateway_manages_lifecycle);
  if (generation == GatewayGeneration::kV0) return;

  auto* ext = out->mutable_extension();
  ext->mutable_protocol_version()->set_major(kProtocolMajor);
  ext->mutable_protocol_version()->set_minor(kProtocolMinor);
  ext->set_implementation_name(c.implementation_name);
  ext->set_implementation_version(c.implementation_version);
  ext->add_supported_capabilities(ContractCapability(generation));
  out->set_resource_admission_policy(c.admission.acknowledgement);
  // No platform-native sandbox credential to verify (§5).
  out->set_supports_sandbox_authentication(false);
  // No supervisor runs in these sandboxes: the driver's Ready is the
  // sandbox's readiness (docs/generations.md).
  out->set_driver_reports_runtime_readiness(true);
  auto* resources = out->mutable_resource_capabilities();
  resources->mutable_cpu()->set_limit_supported(c.cpu_limit_supported);
  resources->mutable_memory()->set_limit_supported(c.memory_limit_supported);
  // rootfs_tar_staging_dir "" and rootfs_tar_max_bytes 0: no rootfs tars.
}

}  // namespace osgv
