// The driver's YAML configuration over arbitrary text. Invariants: what
// ParseConfig accepts, RenderConfig (serve --check-config) renders as YAML
// that parses back to the same rendering; ValidateConfig answers without
// crashing; a refusal carries a bounded message.
#include <cstddef>
#include <cstdint>
#include <string>

#include "capabilities/config.h"
#include "fuzz_check.h"

using osgv::fuzz::Require;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto config = osgv::ParseConfig(text);
  if (!config.ok()) return 0;
  (void)osgv::ValidateConfig(*config);
  const std::string rendered = osgv::RenderConfig(*config);
  auto again = osgv::ParseConfig(rendered);
  Require(again.ok(), "the rendered config parses", rendered);
  Require(osgv::RenderConfig(*again) == rendered, "rendering is a fixed point", rendered);
  return 0;
}
