#include "lifecycle/checkpoint/checkpoint_json.h"

#include <map>
#include <string>

namespace osgv {

nlohmann::json CheckpointFieldsToJson(const CheckpointImage& i) {
  return {{"files", i.files},
          {"bytes", i.bytes},
          {"compression", i.compression},
          {"created_at_ms", i.created_at_ms},
          {"duration_ms", i.duration_ms}};
}

CheckpointImage CheckpointFieldsFromJson(const nlohmann::json& j) {
  CheckpointImage i;
  i.files = j.at("files").get<std::map<std::string, std::string>>();
  i.bytes = j.value("bytes", uint64_t{0});
  i.compression = j.value("compression", "");
  i.created_at_ms = j.value("created_at_ms", int64_t{0});
  i.duration_ms = j.value("duration_ms", int64_t{0});
  return i;
}

}  // namespace osgv
