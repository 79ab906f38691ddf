// The first entry of a sandbox archive (sandbox_archive.h), osgv-sandbox.json:
// what the sandbox is, and the digests of the files that follow it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "lifecycle/checkpoint/checkpoint_image.h"
#include "lifecycle/store/state_store.h"

namespace osgv {

// Bump when an older importer could misread a newer archive.
inline constexpr int kSandboxArchiveFormatVersion = 1;
inline constexpr char kSandboxArchiveManifestName[] = "osgv-sandbox.json";

struct SandboxArchiveManifest {
  int format_version = kSandboxArchiveFormatVersion;
  std::string driver_version;  // of the exporting driver
  int64_t exported_at_ms = 0;
  // Every field but runsc_id and monitor_pid (host-specific: left empty/0).
  // record.checkpoint_json is left empty too: see `checkpoint`.
  SandboxRecord record;
  // The memory image (dir cleared; files -> "sha256:<hex>"); nullopt when
  // the sandbox stopped without memory and boots cold on Start.
  std::optional<CheckpointImage> checkpoint;
  // "sha256:<hex>" of bundle/config.json, for older importers (unused here).
  std::string bundle_config_digest;
  // Files from the sandbox dir that travel as files/<path>: at most the
  // token file, "auth/sandbox.jwt".
  std::vector<std::string> carried_files;
};

// The manifest as JSON and back.
std::string SandboxManifestToJson(const SandboxArchiveManifest& manifest);
// INVALID_ARGUMENT for malformed JSON or missing fields; FAILED_PRECONDITION
// when the format version is newer than this driver reads.
absl::StatusOr<SandboxArchiveManifest> SandboxManifestFromJson(const std::string& json);

}  // namespace osgv
