// DecodeRequest (the stored create request, read back at recovery) over
// arbitrary text. Invariants: a decoded request encodes and decodes to the
// same encoding; validating it (what recovery does) answers without
// crashing; a refusal is DATA_LOSS.
#include <cstddef>
#include <cstdint>
#include <string>

#include "capabilities/config.h"
#include "capabilities/validation.h"
#include "fuzz_check.h"
#include "lifecycle/spec_codec.h"

using osgv::fuzz::Require;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto request = osgv::DecodeRequest(text);
  if (!request.ok()) {
    Require(absl::IsDataLoss(request.status()), "refusal is DATA_LOSS", text);
    return 0;
  }
  const std::string encoded = osgv::EncodeRequest(*request);
  auto again = osgv::DecodeRequest(encoded);
  Require(again.ok(), "an encoded request decodes", encoded);
  Require(osgv::EncodeRequest(*again) == encoded, "encoding is a fixed point", encoded);
  static const osgv::Config config;
  (void)osgv::ValidateSandboxRequest(*request, config);
  return 0;
}
