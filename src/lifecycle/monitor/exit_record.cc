// The exit file: the one fact about a sandbox that only the monitor sees.
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "lifecycle/fs_util.h"
#include "lifecycle/monitor/monitor.h"

namespace osgv {

absl::Status WriteExitRecord(const std::string& path, const ExitRecord& record) {
  nlohmann::json j = {{"exit_code", record.exit_code}, {"at_ms", record.at_ms}};
  return WriteFileAtomic(path, j.dump() + "\n", 0600);
}

absl::StatusOr<std::optional<ExitRecord>> ReadExitRecord(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) {
    if (absl::IsNotFound(text.status())) return std::optional<ExitRecord>();
    return text.status();
  }
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::DataLossError(absl::StrCat("exit record ", path, " is not valid JSON"));
  }
  ExitRecord r;
  r.exit_code = j.value("exit_code", -1);
  r.at_ms = j.value("at_ms", int64_t{0});
  return std::optional<ExitRecord>(r);
}

}  // namespace osgv
