// Reads the runtime-relevant part of an OCI / Docker image config blob.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "lifecycle/image/image_store.h"

namespace osgv {

// `blob` is the whole config JSON; its `config` object and every field in it
// are optional and may be null. A field of the wrong JSON type is
// FAILED_PRECONDITION naming the field.
absl::StatusOr<ImageConfig> ParseImageConfig(const std::string& blob);

}  // namespace osgv
