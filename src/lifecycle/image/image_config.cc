#include "lifecycle/image/image_config.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace osgv {
namespace {

using nlohmann::json;

absl::Status WrongType(const char* field, const char* want) {
  return absl::FailedPreconditionError(
      absl::StrCat("image config: config.", field, " must be ", want));
}

// Missing and null both mean "not set" (Docker writes null for empty lists).
const json* Field(const json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

absl::Status ReadString(const json& obj, const char* name, std::string* out) {
  const json* v = Field(obj, name);
  if (v == nullptr) return absl::OkStatus();
  if (!v->is_string()) return WrongType(name, "a string");
  *out = v->get<std::string>();
  return absl::OkStatus();
}

absl::Status ReadStrings(const json& obj, const char* name, std::vector<std::string>* out) {
  const json* v = Field(obj, name);
  if (v == nullptr) return absl::OkStatus();
  if (!v->is_array()) return WrongType(name, "an array of strings");
  for (const json& item : *v) {
    if (!item.is_string()) return WrongType(name, "an array of strings");
    out->push_back(item.get<std::string>());
  }
  return absl::OkStatus();
}

absl::Status ReadLabels(const json& obj, std::map<std::string, std::string>* out) {
  const json* v = Field(obj, "Labels");
  if (v == nullptr) return absl::OkStatus();
  if (!v->is_object()) return WrongType("Labels", "an object of strings");
  for (const auto& [key, value] : v->items()) {
    if (!value.is_string()) return WrongType("Labels", "an object of strings");
    (*out)[key] = value.get<std::string>();
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ImageConfig> ParseImageConfig(const std::string& blob) {
  json doc = json::parse(blob, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return absl::FailedPreconditionError("image config is not a JSON object");
  }
  ImageConfig out;
  const json* config = Field(doc, "config");
  if (config == nullptr) return out;
  if (!config->is_object()) {
    return absl::FailedPreconditionError("image config: config must be an object");
  }
  for (absl::Status s :
       {ReadStrings(*config, "Env", &out.env), ReadString(*config, "WorkingDir", &out.working_dir),
        ReadString(*config, "User", &out.user), ReadStrings(*config, "Entrypoint", &out.entrypoint),
        ReadStrings(*config, "Cmd", &out.cmd), ReadLabels(*config, &out.labels)}) {
    if (!s.ok()) return s;
  }
  return out;
}

}  // namespace osgv
