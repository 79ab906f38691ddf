#include "lifecycle/spec_codec.h"

#include <nlohmann/json.hpp>
#include <utility>

#include "absl/strings/str_cat.h"

namespace osgv {

using nlohmann::json;

// The stored names of the gateway generations. A pin-era (kV0) record
// carries none of the mode's keys, so its text is what it always was and
// records written before the mode existed read as kV0.
constexpr std::pair<GatewayGeneration, const char*> kGenerations[] = {
    {GatewayGeneration::kV01, "v0.1"}, {GatewayGeneration::kRyno, "ryno"}};

// The v0.1.x/Ryno fields (sandbox.h); the token and launch_authentication
// are never among them.
void EncodeGenerationFields(const SandboxSpec& spec, json* j) {
  if (spec.generation == GatewayGeneration::kV0) return;
  for (const auto& [generation, name] : kGenerations) {
    if (generation == spec.generation) (*j)["generation"] = name;
  }
  (*j)["await_main_process_attachment"] = spec.await_main_process_attachment;
  (*j)["workload_identity"] = {{"user", spec.workload_user}, {"group", spec.workload_group}};
  json endpoints = json::array();
  for (const auto& e : spec.policy.endpoints) {
    endpoints.push_back({{"host", e.host}, {"ports", e.ports}, {"allowed_ips", e.allowed_ips}});
  }
  (*j)["policy"] = {{"present", spec.policy.present},
                    {"endpoints", endpoints},
                    {"not_enforced", spec.policy.not_enforced}};
}

// A malformed value throws json::exception, as in DecodeRequest.
absl::Status DecodeGenerationFields(const json& j, SandboxSpec* spec) {
  if (!j.contains("generation")) return absl::OkStatus();  // kV0
  const std::string name = j.at("generation");
  bool known = false;
  for (const auto& [generation, stored] : kGenerations) {
    if (name == stored) {
      spec->generation = generation;
      known = true;
    }
  }
  if (!known) return absl::DataLossError(absl::StrCat("stored spec: unknown generation '", name, "'"));
  spec->await_main_process_attachment = j.value("await_main_process_attachment", false);
  const json identity = j.value("workload_identity", json::object());
  spec->workload_user = identity.value("user", "");
  spec->workload_group = identity.value("group", "");
  const json policy = j.value("policy", json::object());
  spec->policy.present = policy.value("present", false);
  for (const auto& e : policy.value("endpoints", json::array())) {
    spec->policy.endpoints.push_back({e.value("host", ""),
                                      e.value("ports", std::vector<uint32_t>{}),
                                      e.value("allowed_ips", std::vector<std::string>{})});
  }
  spec->policy.not_enforced = policy.value("not_enforced", std::vector<std::string>{});
  return absl::OkStatus();
}

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
  EncodeGenerationFields(r.spec, &j);
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
    if (auto st = DecodeGenerationFields(j, &r.spec); !st.ok()) return st;
    return r;
  } catch (const json::exception& e) {
    return absl::DataLossError(absl::StrCat("stored spec: ", e.what()));
  }
}

}  // namespace osgv
