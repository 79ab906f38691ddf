#include "gateway_checks.h"

#include <arpa/inet.h>

#include <algorithm>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace osgv::contract {
namespace {

// negotiate()'s limits (crates/ryno-core/src/extension_protocol.rs).
constexpr size_t kMaxFieldBytes = 128;
constexpr size_t kMaxCapabilities = 128;

absl::Status Refused(const std::string& message) {
  return absl::FailedPreconditionError(message);
}

// Empty after trimming, too long, or holding a control character.
std::string TextProblem(const std::string& value) {
  if (absl::StripAsciiWhitespace(value).empty()) return "must not be empty";
  if (value.size() > kMaxFieldBytes) return "must be at most 128 bytes";
  for (unsigned char c : value) {
    if (c < 0x20 || c == 0x7f) return "must not contain control characters";
  }
  return "";
}

// "<p>.", then at least three dot-separated segments of [a-z0-9-].
bool IsCapability(const std::string& c, const std::string& prefix) {
  if (c.size() > kMaxFieldBytes || !absl::StartsWith(c, prefix + ".")) return false;
  std::vector<std::string> parts = absl::StrSplit(c, '.');
  if (parts.size() < 3) return false;
  return std::all_of(parts.begin(), parts.end(), [](const std::string& p) {
    return !p.empty() && std::all_of(p.begin(), p.end(), [](char ch) {
      return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-';
    });
  });
}

absl::Status CheckCapabilityList(const std::vector<std::string>& list, const std::string& field,
                                 const std::string& who, const std::string& prefix) {
  if (list.size() > kMaxCapabilities) {
    return Refused(absl::StrCat(who, " has invalid ", field, ": more than 128 entries"));
  }
  std::set<std::string> seen;
  for (const auto& c : list) {
    if (!IsCapability(c, prefix)) {
      return Refused(absl::StrCat(who, " has invalid ", field, ": '", c,
                                  "' must be a lowercase namespaced identifier (", prefix,
                                  ".<family>.<name>, [a-z0-9-] segments, at most 128 bytes)"));
    }
    if (!seen.insert(c).second) {
      return Refused(absl::StrCat(who, " has invalid ", field, ": contains duplicate '", c, "'"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckPeer(const PeerInfo& peer, const std::string& who, const std::string& prefix) {
  if (!peer.has_protocol_version) {
    return Refused(absl::StrCat(who, " did not provide a protocol version"));
  }
  if (peer.major != 1) {
    return Refused(absl::StrCat(who, " uses unsupported protocol ", peer.major, ".", peer.minor,
                                "; gateway supports 1.0"));
  }
  for (const auto& [field, value] : {std::pair{"implementation_name", &peer.implementation_name},
                                     std::pair{"implementation_version",
                                               &peer.implementation_version}}) {
    if (std::string why = TextProblem(*value); !why.empty()) {
      return Refused(absl::StrCat(who, " has invalid ", field, ": ", why));
    }
  }
  if (auto st = CheckCapabilityList(peer.supported_capabilities, "supported_capabilities", who,
                                    prefix);
      !st.ok()) {
    return st;
  }
  return CheckCapabilityList(peer.required_capabilities, "required_capabilities", who, prefix);
}

std::vector<std::string> Missing(const std::vector<std::string>& wanted,
                                 const std::vector<std::string>& offered) {
  std::vector<std::string> missing;
  for (const auto& w : wanted) {
    if (std::find(offered.begin(), offered.end(), w) == offered.end()) missing.push_back(w);
  }
  return missing;
}

// Parses one level of the policy: an object with only `known` keys.
absl::Status KnownKeysOnly(const nlohmann::json& object, const std::string& where,
                           const std::set<std::string>& known) {
  if (!object.is_object()) return absl::InvalidArgumentError(where + " must be a JSON object");
  for (const auto& item : object.items()) {
    if (!known.count(item.key())) {
      return absl::InvalidArgumentError(absl::StrCat(where, " has unknown key '", item.key(),
                                                     "' (known: ", absl::StrJoin(known, ", "),
                                                     ")"));
    }
  }
  return absl::OkStatus();
}

struct AdmissionPolicy {
  bool allow_driver_config = false;
  bool enabled = true;
  std::map<std::string, std::string> required_labels;
  bool operator==(const AdmissionPolicy&) const = default;
};

AdmissionPolicy DefaultPolicy(const std::string& prefix) {
  AdmissionPolicy p;
  p.required_labels = {{prefix + ".ai/sandbox-attachable", "true"},
                       {prefix + ".ai/sandbox-attachable-workspace", "${workspace}"}};
  return p;
}

// serde with defaults and deny_unknown_fields, as resource_admission.rs
// parses it: absent keys take the default, anything unknown or mistyped
// fails.
absl::Status ParsePolicy(const std::string& json, const std::string& prefix, AdmissionPolicy* out) {
  auto doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return absl::InvalidArgumentError("not valid JSON");
  if (auto st = KnownKeysOnly(doc, "the policy", {"allow_driver_config", "resource_admission"});
      !st.ok()) {
    return st;
  }
  *out = DefaultPolicy(prefix);
  if (doc.contains("allow_driver_config")) {
    if (!doc["allow_driver_config"].is_boolean()) {
      return absl::InvalidArgumentError("allow_driver_config must be a boolean");
    }
    out->allow_driver_config = doc["allow_driver_config"].get<bool>();
  }
  if (!doc.contains("resource_admission")) return absl::OkStatus();
  const auto& ra = doc["resource_admission"];
  if (auto st = KnownKeysOnly(ra, "resource_admission", {"enabled", "required_labels"}); !st.ok()) {
    return st;
  }
  if (ra.contains("enabled")) {
    if (!ra["enabled"].is_boolean()) {
      return absl::InvalidArgumentError("resource_admission.enabled must be a boolean");
    }
    out->enabled = ra["enabled"].get<bool>();
  }
  if (ra.contains("required_labels")) {
    const auto& labels = ra["required_labels"];
    if (!labels.is_object()) {
      return absl::InvalidArgumentError("resource_admission.required_labels must be an object");
    }
    out->required_labels.clear();
    for (const auto& item : labels.items()) {
      if (!item.value().is_string()) {
        return absl::InvalidArgumentError(absl::StrCat("resource_admission.required_labels['",
                                                       item.key(), "'] must be a string"));
      }
      out->required_labels[item.key()] = item.value().get<std::string>();
    }
  }
  return absl::OkStatus();
}

std::string Describe(const AdmissionPolicy& p) {
  nlohmann::json labels = p.required_labels;
  nlohmann::json j = {{"allow_driver_config", p.allow_driver_config},
                      {"resource_admission", {{"enabled", p.enabled}, {"required_labels", labels}}}};
  return j.dump();
}

}  // namespace

PeerInfo GatewayMetadata(const std::string& prefix, const std::string& gateway_version,
                         bool launch_authentication) {
  PeerInfo g;
  g.has_protocol_version = true;
  g.major = 1;
  g.minor = 0;
  g.implementation_name = prefix + "/gateway";
  g.implementation_version = gateway_version;
  g.supported_capabilities = {prefix + ".compute.contract"};
  if (launch_authentication) {
    g.supported_capabilities.push_back(prefix + ".compute.launch-authentication");
  }
  g.required_capabilities = {prefix + ".compute.contract"};
  return g;
}

absl::Status Negotiate(const std::optional<PeerInfo>& driver, const PeerInfo& gateway,
                       const std::string& prefix, const std::string& driver_name) {
  const std::string who = absl::StrCat("compute extension '", driver_name, "'");
  if (!driver.has_value()) {
    return Refused(absl::StrCat(who,
                                " did not provide protocol metadata; upgrade the extension to a "
                                "version that supports OpenShell extension negotiation "
                                "(GetCapabilitiesResponse.extension, field 12, is absent)"));
  }
  if (auto st = CheckPeer(gateway, "gateway", prefix); !st.ok()) return st;
  if (auto st = CheckPeer(*driver, who, prefix); !st.ok()) return st;
  if (auto m = Missing(gateway.required_capabilities, driver->supported_capabilities);
      !m.empty()) {
    return Refused(absl::StrCat(who, " is missing required capabilities: ", absl::StrJoin(m, ", ")));
  }
  if (auto m = Missing(driver->required_capabilities, gateway.supported_capabilities);
      !m.empty()) {
    return Refused(absl::StrCat("gateway is missing capabilities required by ", who, ": ",
                                absl::StrJoin(m, ", ")));
  }
  return absl::OkStatus();
}

absl::Status CheckDefaultAdmissionPolicy(const std::string& policy, const std::string& prefix) {
  if (policy.empty()) {
    return Refused(
        "compute driver does not acknowledge resource admission v1: resource_admission_policy "
        "(field 13) is empty, which a gateway accepts only with resource_admission.enabled = "
        "false in its driver table");
  }
  if (!absl::StartsWith(policy, "v1:")) {
    return Refused(absl::StrCat("compute driver does not acknowledge resource admission v1: "
                                "resource_admission_policy '",
                                policy, "' does not start with 'v1:'"));
  }
  AdmissionPolicy got;
  if (auto st = ParsePolicy(policy.substr(3), prefix, &got); !st.ok()) {
    return Refused(absl::StrCat("invalid driver admission acknowledgement '", policy,
                                "': ", st.message()));
  }
  if (AdmissionPolicy want = DefaultPolicy(prefix); !(got == want)) {
    return Refused(absl::StrCat(
        "compute driver admission policy differs from gateway configuration: the driver's '",
        policy, "' means ", Describe(got), ", a gateway with default settings expects ",
        Describe(want)));
  }
  return absl::OkStatus();
}

bool IsSocketAddress(const std::string& text) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos) return false;
  std::string host = text.substr(0, colon);
  uint32_t port = 0;
  if (!absl::SimpleAtoi(text.substr(colon + 1), &port) || port > 65535 ||
      text.substr(colon + 1).find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  unsigned char buf[16];
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    return inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), buf) == 1;
  }
  return inet_pton(AF_INET, host.c_str(), buf) == 1;
}

const char* PhaseName(Phase p) {
  switch (p) {
    case Phase::kDeleting: return "Deleting";
    case Phase::kStopped: return "Stopped";
    case Phase::kReady: return "Ready";
    case Phase::kProvisioning: return "Provisioning";
    case Phase::kError: return "Error";
  }
  return "?";
}

const Condition* FindCondition(const std::vector<Condition>& conditions, const std::string& type) {
  for (const auto& c : conditions) {
    if (c.type == type) return &c;
  }
  return nullptr;
}

Phase DerivePhase(const std::vector<Condition>& conditions, bool deleting) {
  if (deleting) return Phase::kDeleting;
  for (const auto& c : conditions) {
    if (absl::EqualsIgnoreCase(c.type, "Suspended") && absl::EqualsIgnoreCase(c.status, "True")) {
      return Phase::kStopped;
    }
  }
  const Condition* ready = FindCondition(conditions, "Ready");  // case-sensitive upstream
  if (ready == nullptr) return Phase::kProvisioning;
  if (absl::EqualsIgnoreCase(ready->status, "True")) return Phase::kReady;
  if (!absl::EqualsIgnoreCase(ready->status, "False")) return Phase::kProvisioning;
  static const char* const kTransient[] = {
      "reconcilererror",     "dependenciesnotready", "supervisornotconnected", "starting",
      "containerstarting",   "containercreated",     "healthcheckstarting",    "inspectfailed"};
  const std::string reason = absl::AsciiStrToLower(ready->reason);
  for (const char* t : kTransient) {
    if (reason == t) return Phase::kProvisioning;
  }
  return Phase::kError;
}

absl::Status CheckRecent(const std::string& what, absl::Time t, absl::Time now,
                         absl::Duration slack) {
  if (absl::AbsDuration(now - t) <= slack) return absl::OkStatus();
  return absl::OutOfRangeError(absl::StrCat(what, " is ", absl::FormatTime(t), ", not within ",
                                            absl::FormatDuration(slack), " of now (",
                                            absl::FormatTime(now), ")"));
}

absl::Status CheckRecentRfc3339(const std::string& what, const std::string& text, absl::Time now,
                                absl::Duration slack) {
  absl::Time t;
  std::string err;
  if (text.empty()) return absl::InvalidArgumentError(absl::StrCat(what, " is empty"));
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &err)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " '", text, "' is not an RFC 3339 time: ", err));
  }
  return CheckRecent(what, t, now, slack);
}

}  // namespace osgv::contract
