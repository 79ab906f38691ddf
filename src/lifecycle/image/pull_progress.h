// Progress of a registry pull, for `pulling_image` events (contract §4.6).
//
// skopeo says nothing useful while it copies when its output is not a
// terminal, so progress is observed from the outside: the manifest says
// which layers there are and how big, and a layer counts as done once its
// blob file has appeared in the destination OCI layout (skopeo writes each
// blob to a temporary file and renames it into blobs/sha256/ when it is
// complete). Blobs already in the shared store count as done at once.
//
// Progress is for long pulls. A pull that ends within the quiet period
// (1 s) costs no registry round trip and no second skopeo competing with
// the copy for the CPU: its one report comes at Finish, from the manifest
// the copy left in the layout.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "lifecycle/image/image_store.h"

namespace osgv {

struct LayerSize {
  std::string digest;  // sha256:<hex>
  uint64_t size = 0;
};

// The layers of an image manifest, from its JSON. For a multi-platform
// index, `fetch_by_digest` is asked for this host's manifest first.
absl::StatusOr<std::vector<LayerSize>> ManifestLayers(
    const std::string& manifest_json,
    const std::function<absl::StatusOr<std::string>(const std::string& digest)>& fetch_by_digest);

// What of `layers` is present under `blobs_dir` (<layout>/blobs/sha256).
ImageProgress LayersPresent(const std::vector<LayerSize>& layers, const std::string& blobs_dir);

class PullProgressWatcher {
 public:
  // `remote_layers` runs on the watcher's thread once the quiet period has
  // passed (it may take a registry round trip); an error there only means
  // no progress is reported until Finish.
  PullProgressWatcher(std::string blobs_dir,
                      std::function<absl::StatusOr<std::vector<LayerSize>>()> remote_layers,
                      ImageProgressFn report,
                      std::chrono::milliseconds interval = std::chrono::milliseconds(250),
                      std::chrono::milliseconds quiet = std::chrono::seconds(1));
  ~PullProgressWatcher();  // stops without a final report

  // After a successful pull: stops, then one last report of `layers` (the
  // pulled manifest's), on the caller's thread.
  void Finish(const std::vector<LayerSize>& layers);

 private:
  void Run();

  std::string blobs_dir_;
  std::function<absl::StatusOr<std::vector<LayerSize>>()> layers_fn_;
  ImageProgressFn report_;
  std::chrono::milliseconds interval_;
  std::chrono::milliseconds quiet_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace osgv
