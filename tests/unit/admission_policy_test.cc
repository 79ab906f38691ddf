#include "capabilities/admission_policy.h"

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "capabilities/config.h"

namespace osgv {
namespace {

TEST_CASE("admission policy: {} is acknowledged as v1:{}, the gateway's default", "[admission]") {
  auto policy = ParseAdmissionPolicy("{}");
  REQUIRE(policy.ok());
  CHECK(policy->acknowledgement == "v1:{}");
  CHECK_FALSE(policy->allow_driver_config);
}

TEST_CASE("admission policy: the operator's values are acknowledged compactly and read", "[admission]") {
  auto policy = ParseAdmissionPolicy(
      R"({ "allow_driver_config": true,
           "resource_admission": {"enabled": false, "required_labels": {"team": "a"}} })");
  REQUIRE(policy.ok());
  CHECK(policy->allow_driver_config);
  CHECK(policy->acknowledgement ==
        R"(v1:{"allow_driver_config":true,"resource_admission":{"enabled":false,"required_labels":{"team":"a"}}})");
}

TEST_CASE("admission policy: what the gateway's parser rejects is rejected here, by key", "[admission]") {
  struct Case {
    const char* json;
    const char* says;
  };
  const Case cases[] = {
      {"", "not valid JSON"},
      {"[]", "must be a JSON object"},
      {R"({"allow_driver_config": "yes"})", "allow_driver_config: must be a boolean"},
      {R"({"admission": {}})", "unknown key 'admission'"},
      {R"({"resource_admission": {"enabled": true, "labels": {}}})", "unknown key 'labels'"},
      {R"({"resource_admission": {"enabled": 1}})", "resource_admission.enabled: must be a boolean"},
      {R"({"resource_admission": {"required_labels": {"a": 1}}})", "'a' must be a string"},
  };
  for (const auto& c : cases) {
    INFO(c.json);
    auto policy = ParseAdmissionPolicy(c.json);
    REQUIRE_FALSE(policy.ok());
    CHECK(absl::StartsWith(policy.status().message(), "gateway.admission_config_json: "));
    CHECK(absl::StrContains(policy.status().message(), c.says));
  }
}

TEST_CASE("admission policy: a bad value in the config file fails the config by key", "[admission][config]") {
  auto config = ParseConfig("gateway:\n  admission_config_json: '{\"x\": 1}'\n");
  REQUIRE_FALSE(config.ok());
  CHECK(absl::StartsWith(config.status().message(), "gateway.admission_config_json:"));
  auto good = ParseConfig("gateway:\n  admission_config_json: '{\"allow_driver_config\": true}'\n");
  REQUIRE(good.ok());
  CHECK(good->gateway.admission_config_json == "{\"allow_driver_config\": true}");
}

}  // namespace
}  // namespace osgv
