#include "capabilities/generation_validation.h"

#include <arpa/inet.h>

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "capabilities/quantity.h"

namespace osgv {
namespace {

constexpr absl::string_view kSpec = "sandbox.spec";
constexpr absl::string_view kEndpoints = "sandbox.spec.policy.endpoints";

absl::Status Invalid(absl::string_view path, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", why));
}

std::string Got(absl::string_view value) {
  return absl::StrCat(" (got ", QuoteForMessage(value), ")");
}

// "", "sandbox" (the image's own account, resolved at provisioning) or a
// numeric id. 0 is root, which upstream forbids for the workload; 4294967295
// is (uid_t)-1, "no change" to setuid.
absl::Status CheckSelector(absl::string_view path, const std::string& selector) {
  if (selector.empty() || selector == "sandbox") return absl::OkStatus();
  uint32_t id = 0;
  bool digits = !selector.empty() && selector.size() <= 10;
  for (char c : selector) digits = digits && absl::ascii_isdigit(static_cast<unsigned char>(c));
  if (digits && absl::SimpleAtoi(selector, &id) && id >= 1 && id <= 4294967294u) {
    return absl::OkStatus();
  }
  return Invalid(path, absl::StrCat("must be empty, \"sandbox\" or a number from 1 to "
                                    "4294967294; the gvisor driver resolves no other names",
                                    Got(selector)));
}

absl::Status CheckEndpoint(size_t index, const PolicyEndpoint& endpoint) {
  const std::string path = absl::StrCat(kEndpoints, "[", index, "]");
  if (!endpoint.host.empty() && !IsExactDnsName(endpoint.host)) {
    return Invalid(absl::StrCat(path, ".host"),
                   absl::StrCat("must be an exact DNS name (letters, digits, '-' and '.'; "
                                "no wildcard)",
                                Got(endpoint.host)));
  }
  if (endpoint.host.empty() && endpoint.allowed_ips.empty()) {
    return Invalid(path, "names neither a host nor allowed_ips");
  }
  if (endpoint.ports.empty()) return Invalid(absl::StrCat(path, ".ports"), "at least one port");
  for (size_t i = 0; i < endpoint.ports.size(); ++i) {
    const uint32_t port = endpoint.ports[i];
    if (port < 1 || port > 65535) {
      return Invalid(absl::StrCat(path, ".ports[", i, "]"),
                     absl::StrCat("must be from 1 to 65535 (got ", port, ")"));
    }
  }
  for (size_t i = 0; i < endpoint.allowed_ips.size(); ++i) {
    if (!IsIpOrCidr(endpoint.allowed_ips[i])) {
      return Invalid(absl::StrCat(path, ".allowed_ips[", i, "]"),
                     absl::StrCat("must be an IPv4 or IPv6 address or CIDR",
                                  Got(endpoint.allowed_ips[i])));
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool IsDriverReadinessMode(const SandboxSpec& spec) {
  return spec.generation != GatewayGeneration::kV0;
}

bool IsIpOrCidr(const std::string& text) {
  std::vector<std::string> parts = absl::StrSplit(text, absl::MaxSplits('/', 1));
  const bool v6 = parts[0].find(':') != std::string::npos;
  unsigned char buffer[16];
  if (inet_pton(v6 ? AF_INET6 : AF_INET, parts[0].c_str(), buffer) != 1) return false;
  if (parts.size() == 1) return true;
  const std::string& prefix = parts[1];
  int length = -1;
  bool digits = !prefix.empty() && prefix.size() <= 3;
  for (char c : prefix) digits = digits && absl::ascii_isdigit(static_cast<unsigned char>(c));
  return digits && absl::SimpleAtoi(prefix, &length) && length >= 0 && length <= (v6 ? 128 : 32);
}

bool IsExactDnsName(const std::string& text) {
  absl::string_view name = text;
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty() || name.size() > 253) return false;
  for (absl::string_view label : absl::StrSplit(name, '.')) {
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    }
  }
  return true;
}

absl::Status CheckGenerationRequest(const SandboxSpec& spec) {
  if (!IsDriverReadinessMode(spec)) return absl::OkStatus();
  if (spec.await_main_process_attachment) {
    return absl::FailedPreconditionError(absl::StrCat(
        kSpec, ".await_main_process_attachment: not supported by the gvisor driver for "
               "v0.1.x/Ryno gateways: no supervisor runs in the sandbox, so nothing attaches "
               "to the main process and it starts at once"));
  }
  if (auto st = CheckSelector(absl::StrCat(kSpec, ".workload_identity.user"), spec.workload_user);
      !st.ok()) {
    return st;
  }
  if (auto st = CheckSelector(absl::StrCat(kSpec, ".workload_identity.group"),
                              spec.workload_group);
      !st.ok()) {
    return st;
  }
  const auto& endpoints = spec.policy.endpoints;
  if (endpoints.size() > kMaxPolicyEndpoints) {
    return Invalid(kEndpoints, absl::StrCat(endpoints.size(), " endpoints; at most ",
                                            kMaxPolicyEndpoints));
  }
  for (size_t i = 0; i < endpoints.size(); ++i) {
    if (auto st = CheckEndpoint(i, endpoints[i]); !st.ok()) return st;
  }
  return absl::OkStatus();
}

}  // namespace osgv
