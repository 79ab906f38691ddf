// ParseImageReference over arbitrary text. Invariants: a parsed reference's
// Canonical() parses again to the same canonical form (equal references have
// equal canonical forms, and the image store keys on it); its parts are in
// the grammar; a refusal is INVALID_ARGUMENT with a bounded message.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/match.h"
#include "capabilities/image_reference.h"
#include "fuzz_check.h"

using osgv::fuzz::Require;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto ref = osgv::ParseImageReference(text);
  if (!ref.ok()) {
    Require(absl::IsInvalidArgument(ref.status()), "refusal is INVALID_ARGUMENT", text);
    // The reference is quoted (64 bytes at most, escaped, x4 for octal
    // escapes) together with one part of it and the reason.
    osgv::fuzz::RequireSafeMessage(ref.status(), 1024);
    return 0;
  }
  const std::string canonical = ref->Canonical();
  auto again = osgv::ParseImageReference(canonical);
  Require(again.ok(), "Canonical() parses", canonical);
  Require(again->Canonical() == canonical, "Canonical() is a fixed point",
          text + " -> " + canonical + " -> " + again->Canonical());
  Require(again->is_registry() == ref->is_registry(), "transport survives", canonical);
  if (ref->is_registry()) {
    Require(!ref->registry.empty() && !ref->repository.empty(), "registry/repository set", text);
    Require(ref->digest.empty() || ref->digest.size() == 71, "digest is sha256:<64>", text);
    Require(!ref->tag.empty() || !ref->digest.empty(), "tag or digest set", text);
  } else {
    Require(absl::StartsWith(ref->layout_dir, "/"), "layout dir is absolute", text);
    Require(!absl::StrContains(ref->layout_dir + "/", "/../") &&
                !absl::StrContains(ref->layout_dir + "/", "/./") &&
                !absl::StrContains(ref->layout_dir, "//"),
            "layout dir is normalized", ref->layout_dir);
  }
  return 0;
}
