// Images: OCI layouts on disk, verified and unpacked into a shared,
// content-addressed rootfs cache.
//
// Layout under the cache directory:
//   rootfs/<manifest-sha256-hex>/       flattened image root, never written
//                                       after it is renamed into place
//   rootfs/<hex>.json                   the image config we ran it with
//   tmp/                                staging for unpacks in progress
// Every blob (index-selected manifest, config, each layer) is hashed with
// SHA-256 while it is read and rejected on mismatch before anything from it
// is used. A failed or interrupted unpack never leaves a directory under
// rootfs/. Two Prepare() calls for the same image unpack it once.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace osgv {

// The parts of an OCI image config (`config` object) a runtime spec needs.
struct ImageConfig {
  std::vector<std::string> env;  // "KEY=VALUE"
  std::string working_dir;
  std::string user;
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::map<std::string, std::string> labels;
};

// `oci:/abs/path[:tag]` (containers-image transport syntax).
struct ImageReference {
  std::string layout_dir;  // absolute
  std::string tag;         // "" = the layout's only manifest
};
absl::StatusOr<ImageReference> ParseImageReference(const std::string& ref);

struct PreparedImage {
  std::string reference;
  std::string manifest_digest;  // "sha256:<hex>"
  ImageConfig config;
  std::string rootfs_dir;  // read-only shared lower dir
};

struct ImageProgress {
  int layers_done = 0;
  int layers_total = 0;
  uint64_t bytes_done = 0;
  uint64_t bytes_total = 0;
};
using ImageProgressFn = std::function<void(const ImageProgress&)>;

class ImageStore {
 public:
  explicit ImageStore(std::string cache_dir);

  // Resolves, verifies and (once) unpacks the image. Safe to call from many
  // threads; concurrent calls for one digest share a single unpack.
  absl::StatusOr<PreparedImage> Prepare(const std::string& reference,
                                        const ImageProgressFn& progress = {});

  // Removes leftovers of interrupted unpacks (tmp/). Called at startup.
  void CleanStaging();

  const std::string& cache_dir() const { return cache_dir_; }

 private:
  std::string cache_dir_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::set<std::string> in_flight_;  // manifest digests being unpacked
};

}  // namespace osgv
