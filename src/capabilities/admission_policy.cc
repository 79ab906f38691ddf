#include "capabilities/admission_policy.h"

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace osgv {
namespace {

constexpr char kKey[] = "gateway.admission_config_json";

absl::Status Bad(const std::string& where, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(kKey, ": ", where, why));
}

// Only the keys the gateway's own parser knows; it rejects the others, so
// accepting them here would only move the failure to gateway start-up.
absl::Status CheckKeys(const nlohmann::json& object, const std::string& where,
                       std::initializer_list<const char*> known) {
  for (const auto& [key, value] : object.items()) {
    bool found = false;
    for (const char* k : known) found = found || key == k;
    if (!found) return Bad(where, absl::StrCat("unknown key '", key, "'"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<AdmissionPolicy> ParseAdmissionPolicy(const std::string& json_text) {
  nlohmann::json doc = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Bad("", "not valid JSON");
  if (!doc.is_object()) return Bad("", "must be a JSON object");
  if (auto s = CheckKeys(doc, "", {"allow_driver_config", "resource_admission"}); !s.ok()) return s;

  AdmissionPolicy policy;
  if (doc.contains("allow_driver_config")) {
    if (!doc["allow_driver_config"].is_boolean()) return Bad("allow_driver_config: ", "must be a boolean");
    policy.allow_driver_config = doc["allow_driver_config"].get<bool>();
  }
  if (doc.contains("resource_admission")) {
    const auto& ra = doc["resource_admission"];
    if (!ra.is_object()) return Bad("resource_admission: ", "must be an object");
    if (auto s = CheckKeys(ra, "resource_admission: ", {"enabled", "required_labels"}); !s.ok()) {
      return s;
    }
    if (ra.contains("enabled") && !ra["enabled"].is_boolean()) {
      return Bad("resource_admission.enabled: ", "must be a boolean");
    }
    if (ra.contains("required_labels")) {
      const auto& labels = ra["required_labels"];
      if (!labels.is_object()) return Bad("resource_admission.required_labels: ", "must be an object");
      for (const auto& [k, v] : labels.items()) {
        if (!v.is_string()) {
          return Bad("resource_admission.required_labels: ", absl::StrCat("'", k, "' must be a string"));
        }
      }
    }
  }
  // The operator's values, not the filled-in defaults: "{}" stays "v1:{}",
  // which is what a gateway with no admission settings expects to read.
  policy.acknowledgement = absl::StrCat("v1:", doc.dump());
  return policy;
}

}  // namespace osgv
