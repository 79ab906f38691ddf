#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "lifecycle/monitor/monitor.h"

namespace osgv {

std::string MonitorSpecToJson(const MonitorSpec& s) {
  nlohmann::json j = {
      {"runsc",
       {{"path", s.runsc.path},
        {"root", s.runsc.root},
        {"platform", s.runsc.platform},
        {"timeout_ms", s.runsc.timeout.count()},
        {"debug_log_dir", s.runsc.debug_log_dir},
        {"network", s.runsc.network},
        {"netns_path", s.runsc.netns_path},
        {"flags", s.runsc_flags}}},
      {"container_id", s.container_id},
      {"bundle", s.bundle},
      {"console_log", s.console_log},
      {"console_log_max_bytes", s.console_log_max_bytes},
      {"exit_file", s.exit_file},
      {"log_file", s.log_file},
      {"restore_image_dir", s.restore_image_dir},
  };
  return j.dump(2) + "\n";
}

absl::StatusOr<MonitorSpec> MonitorSpecFromJson(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("runsc")) {
    return absl::InvalidArgumentError("monitor spec: not a JSON object with 'runsc'");
  }
  try {
    MonitorSpec s;
    const auto& r = j.at("runsc");
    s.runsc.path = r.at("path").get<std::string>();
    s.runsc.root = r.at("root").get<std::string>();
    s.runsc.platform = r.at("platform").get<std::string>();
    s.runsc.timeout = std::chrono::milliseconds(r.at("timeout_ms").get<int64_t>());
    s.runsc.debug_log_dir = r.value("debug_log_dir", "");
    s.runsc.network = r.value("network", "none");
    s.runsc.netns_path = r.value("netns_path", "");
    s.runsc_flags = r.at("flags").get<std::set<std::string>>();
    s.container_id = j.at("container_id").get<std::string>();
    s.bundle = j.at("bundle").get<std::string>();
    s.console_log = j.at("console_log").get<std::string>();
    s.console_log_max_bytes = j.value("console_log_max_bytes", uint64_t{0});
    s.exit_file = j.at("exit_file").get<std::string>();
    s.log_file = j.at("log_file").get<std::string>();
    s.restore_image_dir = j.value("restore_image_dir", "");
    return s;
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("monitor spec: ", e.what()));
  }
}

}  // namespace osgv
