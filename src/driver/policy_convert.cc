#include "driver/policy_convert.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "capabilities/quantity.h"

namespace osgv {
namespace {

namespace sb = ::openshell::sandbox::v1;

// A policy may be large; the list is for people, so it is bounded.
constexpr size_t kMaxNotEnforcedLines = 32;

class Translation {
 public:
  void NotEnforced(std::string line) {
    if (out_.not_enforced.size() < kMaxNotEnforcedLines) {
      out_.not_enforced.push_back(std::move(line));
    } else {
      ++dropped_;
    }
  }

  void Endpoint(const std::string& where, const sb::NetworkEndpoint& e) {
    PolicyEndpoint endpoint;
    // `ports` wins over `port` when both are set (the proto's rule).
    if (e.ports_size() > 0) {
      endpoint.ports.assign(e.ports().begin(), e.ports().end());
    } else if (e.port() != 0) {
      endpoint.ports.push_back(e.port());
    }
    endpoint.allowed_ips.assign(e.allowed_ips().begin(), e.allowed_ips().end());
    const std::string host = absl::AsciiStrToLower(e.host());
    if (host.find('*') != std::string::npos) {
      // A glob names no address the fence could allow. With allowed_ips the
      // IPs still bound it; without, nothing is opened.
      NotEnforced(absl::StrCat(where, ": host glob ", QuoteForMessage(host),
                               endpoint.allowed_ips.empty() ? " cannot be resolved; not allowed"
                                                            : " not matched; only its allowed_ips are open"));
    } else {
      endpoint.host = host;
    }
    if (endpoint.ports.empty()) {
      NotEnforced(absl::StrCat(where, ": no port; not allowed"));
      return;
    }
    const bool l7 = !(e.protocol().empty() || e.protocol() == "tcp") || e.rules_size() > 0 ||
                    e.deny_rules_size() > 0 || e.access() != sb::NETWORK_ACCESS_PRESET_UNSPECIFIED;
    if (l7) {
      NotEnforced(absl::StrCat(where, ": protocol ", QuoteForMessage(e.protocol()),
                               " rules (L7) are not inspected; the endpoint is open at L4"));
    }
    if (e.has_credential_binding() || !e.credential_signing().empty() ||
        e.websocket_credential_rewrite() || e.request_body_credential_rewrite()) {
      NotEnforced(absl::StrCat(where, ": credential injection and rewriting are not available"));
    }
    if (endpoint.host.empty() && endpoint.allowed_ips.empty()) return;
    out_.endpoints.push_back(std::move(endpoint));
  }

  SandboxNetworkPolicy Finish() {
    if (dropped_ > 0) out_.not_enforced.push_back(absl::StrCat("... and ", dropped_, " more"));
    return std::move(out_);
  }

  SandboxNetworkPolicy out_;
  size_t dropped_ = 0;
};

}  // namespace

SandboxNetworkPolicy NetworkPolicyFromProto(const sb::SandboxPolicy& policy) {
  Translation t;
  t.out_.present = true;
  if (policy.has_filesystem() &&
      (policy.filesystem().read_only_size() > 0 || policy.filesystem().read_write_size() > 0)) {
    t.NotEnforced("filesystem: path allow lists are not enforced (no Landlock under gVisor); the "
                  "sandbox's root filesystem is its own");
  }
  if (policy.has_landlock()) t.NotEnforced("landlock: not available under gVisor");
  if (policy.network_middlewares_size() > 0) {
    t.NotEnforced("network_middlewares: no supervisor proxy runs them; not applied");
  }
  // Map order is unspecified; sorted names give the same lines every time.
  std::vector<std::string> names;
  for (const auto& [name, rule] : policy.network_policies()) names.push_back(name);
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    const auto& rule = policy.network_policies().at(name);
    const std::string where = absl::StrCat("network_policies[", QuoteForMessage(name), "]");
    if (rule.binaries_size() > 0) {
      t.NotEnforced(absl::StrCat(where, ".binaries: not attributed; its endpoints are open to every "
                                        "process in the sandbox"));
    }
    for (int i = 0; i < rule.endpoints_size(); ++i) {
      t.Endpoint(absl::StrCat(where, ".endpoints[", i, "]"), rule.endpoints(i));
    }
  }
  return t.Finish();
}

}  // namespace osgv
