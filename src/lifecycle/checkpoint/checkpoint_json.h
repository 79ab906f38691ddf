// A memory image's description as a JSON object, without its directory.
// Two documents embed it: the sandbox record's checkpoint_json (which adds
// "dir": where the image is on this host) and a sandbox archive's manifest
// (which must not: the importer chooses the directory).
#pragma once

#include <nlohmann/json.hpp>

#include "lifecycle/checkpoint/checkpoint_image.h"

namespace osgv {

// files, bytes, compression, created_at_ms, duration_ms.
nlohmann::json CheckpointFieldsToJson(const CheckpointImage& image);

// The same fields back; `dir` is left empty. "files" is required, the rest
// default to zero/empty. Throws nlohmann::json::exception for a missing or
// mistyped field, so each caller words the error for its own document.
CheckpointImage CheckpointFieldsFromJson(const nlohmann::json& object);

}  // namespace osgv
