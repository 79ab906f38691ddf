#include "lifecycle/spec_codec.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace osgv {

using nlohmann::json;

std::string EncodeRequest(const SandboxRequest& r) {
  const auto& t = r.spec.tmpl;
  json j = {
      {"id", r.id},
      {"name", r.name},
      {"namespace", r.namespace_name},
      {"workspace", r.workspace},
      {"log_level", r.spec.log_level},
      {"environment", r.spec.environment},
      {"command", r.spec.command},
      {"tty", r.spec.tty},
      {"template",
       {{"image", t.image},
        {"labels", t.labels},
        {"environment", t.environment},
        {"platform_config", t.platform_config_json},
        {"driver_config", t.driver_config_json}}},
  };
  for (const auto& m : r.spec.host_mounts) {
    j["host_mounts"].push_back(
        {{"source", m.source}, {"destination", m.destination}, {"read_only", m.read_only}});
  }
  if (t.resources) {
    j["template"]["resources"] = {{"cpu_request", t.resources->cpu_request},
                                  {"cpu_limit", t.resources->cpu_limit},
                                  {"memory_request", t.resources->memory_request},
                                  {"memory_limit", t.resources->memory_limit}};
  }
  return j.dump();
}

absl::StatusOr<SandboxRequest> DecodeRequest(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return absl::DataLossError("stored spec is not JSON");
  try {
    SandboxRequest r;
    r.id = j.at("id");
    r.name = j.at("name");
    r.namespace_name = j.value("namespace", "");
    r.workspace = j.value("workspace", "");
    r.spec.log_level = j.value("log_level", "");
    r.spec.environment = j.value("environment", std::map<std::string, std::string>{});
    r.spec.command = j.value("command", std::vector<std::string>{});
    r.spec.tty = j.value("tty", false);
    for (const auto& m : j.value("host_mounts", json::array())) {
      r.spec.host_mounts.push_back(
          {m.at("source"), m.at("destination"), m.value("read_only", false)});
    }
    const auto& t = j.at("template");
    r.spec.tmpl.image = t.value("image", "");
    r.spec.tmpl.labels = t.value("labels", std::map<std::string, std::string>{});
    r.spec.tmpl.environment = t.value("environment", std::map<std::string, std::string>{});
    r.spec.tmpl.platform_config_json = t.value("platform_config", "");
    r.spec.tmpl.driver_config_json = t.value("driver_config", "");
    if (t.contains("resources")) {
      const auto& res = t.at("resources");
      r.spec.tmpl.resources = ResourceRequirements{
          res.value("cpu_request", ""), res.value("cpu_limit", ""),
          res.value("memory_request", ""), res.value("memory_limit", "")};
    }
    return r;
  } catch (const json::exception& e) {
    return absl::DataLossError(absl::StrCat("stored spec: ", e.what()));
  }
}

}  // namespace osgv
