// What the image store holds, and removing what no sandbox uses: the
// operator's `images list | rm | gc`. Runs beside a serving driver: every
// change to the blob store is made under its exclusive lock, the one pulls
// take too.
#pragma once

#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace osgv {

struct StoredImage {
  std::vector<std::string> references;  // names in the blob store; none for oci: layouts
  std::string digest;                   // manifest, "sha256:<hex>"
  uint64_t size_bytes = 0;              // manifest + config + layers in the blob store
  bool unpacked = false;                // rootfs/<hex>/ is there
  int64_t last_used_ms = 0;             // last Prepare; 0 = never unpacked
};

// Every image in the blob store or the rootfs cache, one row per digest.
absl::StatusOr<std::vector<StoredImage>> ListStoredImages(const std::string& cache_dir);

struct GcOptions {
  std::set<std::string> digests_in_use;  // from every sandbox record
  // Images used more recently than this are kept even when no record names
  // them yet: a sandbox being created records its digest only once running.
  std::chrono::milliseconds grace{0};
  int64_t now_ms = 0;
};

struct GcResult {
  std::vector<std::string> removed_digests;
  int blobs_removed = 0;
  uint64_t bytes_freed = 0;  // blobs only; unpacked trees are not measured
};

// Removes every image not in use (blob-store names, unreachable blobs and
// unpacked trees).
absl::StatusOr<GcResult> CollectGarbage(const std::string& cache_dir, const GcOptions& options);

// Removes the blob-store name `reference` (canonical form) and, unless
// another name still points at it, its unpacked tree and blobs.
// FAILED_PRECONDITION when its digest is in use; NOT_FOUND when absent.
absl::StatusOr<GcResult> RemoveStoredImage(const std::string& cache_dir,
                                           const std::string& reference,
                                           const std::set<std::string>& digests_in_use);

}  // namespace osgv
