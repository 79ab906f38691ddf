// The sandbox archive's manifest (osgv-sandbox.json, from an archive a
// stranger may hand the operator) over arbitrary text. Invariants: an
// accepted manifest names a stopped sandbox, only plain checkpoint file
// names with sha256 digests, and carried files that stay inside the sandbox
// directory; it serializes and parses back to the same JSON; a refusal is
// INVALID_ARGUMENT or FAILED_PRECONDITION.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "fuzz_check.h"
#include "lifecycle/image/digest.h"
#include "lifecycle/migration/sandbox_manifest.h"
#include "lifecycle/sandbox_status.h"

using osgv::fuzz::Require;

namespace {

// Relative, no empty, "." or ".." component: it cannot leave the sandbox dir.
bool StaysInside(const std::string& rel) {
  if (rel.empty() || rel.front() == '/') return false;
  for (absl::string_view part : absl::StrSplit(rel, '/')) {
    if (part.empty() || part == "." || part == "..") return false;
    if (absl::StrContains(part, '\0')) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto manifest = osgv::SandboxManifestFromJson(text);
  if (!manifest.ok()) {
    Require(absl::IsInvalidArgument(manifest.status()) ||
                absl::IsFailedPrecondition(manifest.status()),
            "refusal is INVALID_ARGUMENT or FAILED_PRECONDITION", text);
    return 0;
  }
  Require(manifest->record.phase == osgv::phase::kStopped, "only stopped sandboxes", text);
  Require(!manifest->record.id.empty() && !manifest->record.name.empty(), "id and name", text);
  if (manifest->checkpoint) {
    Require(!manifest->checkpoint->files.empty(), "a checkpoint has files", text);
    for (const auto& [file, digest] : manifest->checkpoint->files) {
      Require(StaysInside(file) && !absl::StrContains(file, '/'), "checkpoint file is a plain name",
              file);
      Require(osgv::IsSha256Digest(digest), "checkpoint digest is sha256", digest);
    }
  }
  for (const auto& rel : manifest->carried_files) {
    Require(StaysInside(rel), "carried file stays inside the sandbox dir", rel);
  }
  const std::string json = osgv::SandboxManifestToJson(*manifest);
  auto again = osgv::SandboxManifestFromJson(json);
  Require(again.ok(), "a serialized manifest parses", json);
  Require(osgv::SandboxManifestToJson(*again) == json, "serialization is a fixed point", json);
  return 0;
}
