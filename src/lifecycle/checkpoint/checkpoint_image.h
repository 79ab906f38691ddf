// A sandbox's memory image on disk, and the rules that make it trustworthy.
//
// runsc writes the image without fsync and without any integrity check; a
// corrupted page can restore with exit 0 and silently different memory
// (runsc.md §4). So an image is written into a fresh temporary directory,
// then every file is fsynced and hashed, a manifest is written beside them,
// and only then is the directory renamed into place. A restore re-hashes
// every file against the digests recorded in the sandbox record, before
// `runsc restore` or while it runs behind a RestoreGate (restore_gate.h);
// any mismatch means a cold start, and no restored code ever runs.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace osgv {

// Written beside the image files (SealCheckpoint), so the image describes
// itself; never one of the runsc files.
inline constexpr char kCheckpointManifestName[] = "manifest.json";

struct CheckpointImage {
  std::string dir;                           // final image directory
  std::map<std::string, std::string> files;  // file name -> "sha256:<hex>"
  // file name -> FastCheck ("crc32c3:<hex>"), what Start verifies. Kept in
  // the record and manifest.json, not in archives (an imported image has
  // none and is verified with SHA-256).
  std::map<std::string, std::string> fast_checks;
  uint64_t bytes = 0;
  std::string compression;  // flate | none
  int64_t created_at_ms = 0;
  int64_t duration_ms = 0;  // the runsc checkpoint call alone
};

std::string CheckpointToJson(const CheckpointImage& image);
absl::StatusOr<CheckpointImage> CheckpointFromJson(const std::string& json);

// fsyncs and hashes every file in `tmp_dir` (SHA-256 and FastCheck, one
// read), writes manifest.json, and
// renames `tmp_dir` to `final_dir` (replacing an older image), fsyncing
// the parent. The returned image describes `final_dir`.
absl::StatusOr<CheckpointImage> SealCheckpoint(const std::string& tmp_dir,
                                               const std::string& final_dir,
                                               CheckpointImage image);

// Reads final_dir/manifest.json (used when a crash came between the rename
// and the record update).
absl::StatusOr<CheckpointImage> ReadManifest(const std::string& final_dir);

// OK only when every recorded file exists and hashes to its digest.
absl::Status VerifyCheckpoint(const CheckpointImage& image);

// The same for the one recorded file `name` (DATA_LOSS when it is not
// recorded, missing, or different): against its FastCheck when the image
// has one, else its SHA-256.
absl::Status VerifyCheckpointFile(const CheckpointImage& image, const std::string& name);

// Bytes available to an unprivileged writer on the filesystem of `dir`.
absl::StatusOr<uint64_t> FreeBytes(const std::string& dir);

// The compression for a sandbox using `memory_bytes` (auto | flate | none).
std::string ChooseCompression(const std::string& configured, uint64_t none_above_bytes,
                              uint64_t memory_bytes);

}  // namespace osgv
