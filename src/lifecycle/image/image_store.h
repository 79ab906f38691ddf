// Images: OCI layouts on disk, verified and unpacked into a shared,
// content-addressed rootfs cache. Registry images are first copied by an
// ImagePuller (skopeo) into a driver-owned OCI layout, the shared blob store.
//
// Layout under the cache directory:
//   blobs-layout/                       OCI layout of pulled registry images,
//                                       tagged by canonical reference
//   blobs-layout.lock                   flock: shared to read, exclusive to
//                                       pull or collect garbage
//   rootfs/<manifest-sha256-hex>/       flattened image root, never written
//                                       after it is renamed into place
//   rootfs/<hex>.json                   the image config we ran it with
//                                       (its mtime: when it was last used)
//   tmp/                                staging for unpacks in progress
// Every blob (index-selected manifest, config, each layer) is hashed with
// SHA-256 while it is read and rejected on mismatch before anything from it
// is used, whoever wrote it. A failed or interrupted pull or unpack never
// leaves a directory under rootfs/. Two Prepare() calls for the same image
// pull and unpack it once.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "capabilities/image_reference.h"
#include "capabilities/pull_policy.h"
#include "lifecycle/image/image_observer.h"
#include "lifecycle/image/skopeo.h"

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

struct PreparedImage {
  std::string reference;
  std::string manifest_digest;  // "sha256:<hex>"
  ImageConfig config;
  std::string rootfs_dir;  // read-only shared lower dir
};

struct ImageProgress {
  // true while layers arrive from a registry; false while they are unpacked.
  bool pulling = false;
  int layers_done = 0;
  int layers_total = 0;
  uint64_t bytes_done = 0;
  uint64_t bytes_total = 0;
};
using ImageProgressFn = std::function<void(const ImageProgress&)>;

struct PrepareOptions {
  // Registry references: if-not-present uses a copy already in the blob
  // store with no network; always asks the registry again (a tag may have
  // moved); never fails unless present. A digest reference that is present
  // is never pulled again, whatever the policy: its content cannot change.
  PullPolicy pull_policy = PullPolicy::kIfNotPresent;
  // The manifest digest the sandbox ran on before (its record): used
  // straight from the cache when there, else pulled by that digest, so a
  // moved tag never changes a sandbox's files underneath it.
  std::string pinned_digest;
};

class ImageStore {
 public:
  // `puller` may be null: then only oci: references (and images already in
  // the blob store) can be prepared. `oci_policy` is where oci: layouts may
  // really be (OciLayoutPolicyFor(config)), checked on the opened directory
  // with symlinks resolved; nullopt (the operator's own `images pull`)
  // reads any layout it is given.
  explicit ImageStore(std::string cache_dir, ImagePuller* puller = nullptr,
                      std::optional<OciLayoutPolicy> oci_policy = std::nullopt);

  // Resolves (pulling when needed), verifies and (once) unpacks the image.
  // Safe to call from many threads; concurrent calls for one reference
  // share a single pull, and for one digest a single unpack.
  absl::StatusOr<PreparedImage> Prepare(const std::string& reference,
                                        const ImageProgressFn& progress = {},
                                        const PrepareOptions& options = {});

  // Removes leftovers of interrupted unpacks (tmp/). Called at startup.
  void CleanStaging();

  // Told of every pull and cache hit from now on; set before the first
  // Prepare. nullptr (the default): nobody is told.
  void SetObserver(ImageObserver* observer) { observer_ = observer; }

  const std::string& cache_dir() const { return cache_dir_; }
  std::string blobs_layout() const { return cache_dir_ + "/blobs-layout"; }
  std::string blobs_lock() const { return cache_dir_ + "/blobs-layout.lock"; }

 private:
  struct Located;
  // Serializes pulls of one reference; `pulls` counts finished attempts so a
  // waiter can tell that the pull it waited for is fresh.
  struct PullSlot {
    std::mutex mu;
    std::atomic<uint64_t> pulls{0};
  };

  absl::StatusOr<Located> Locate(const ImageReference& ref, PullPolicy policy,
                                 const ImageProgressFn& progress);
  absl::StatusOr<Located> LocateInRegistryLayout(const ImageReference& ref,
                                                 PullPolicy policy,
                                                 const ImageProgressFn& progress);
  // The reference's manifest in the blob store, under the shared lock.
  absl::StatusOr<Located> FindPulled(const std::string& name);
  std::shared_ptr<PullSlot> SlotFor(const std::string& name);
  // Single-flight unpack of a resolved manifest into rootfs/<hex>/.
  absl::StatusOr<PreparedImage> Materialize(const std::string& reference, const Located& located,
                                            const ImageProgressFn& progress);

  std::string cache_dir_;
  ImagePuller* puller_;
  std::optional<OciLayoutPolicy> oci_policy_;
  ImageObserver* observer_ = nullptr;
  std::mutex mu_;
  std::condition_variable cv_;
  std::set<std::string> in_flight_;  // manifest digests being unpacked
  std::map<std::string, std::shared_ptr<PullSlot>> pull_slots_;  // by canonical reference
};

}  // namespace osgv
