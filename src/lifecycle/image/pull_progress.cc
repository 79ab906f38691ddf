#include "lifecycle/image/pull_progress.h"

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "lifecycle/image/oci_layout.h"

namespace osgv {

using json = nlohmann::json;

absl::StatusOr<std::vector<LayerSize>> ManifestLayers(
    const std::string& manifest_json,
    const std::function<absl::StatusOr<std::string>(const std::string& digest)>& fetch_by_digest) {
  json manifest = json::parse(manifest_json, nullptr, false);
  if (!manifest.is_object()) return absl::InvalidArgumentError("manifest: not a JSON object");
  if (manifest.contains("manifests")) {  // an index: this host's entry
    absl::StatusOr<std::string> digest = HostManifestDigest(manifest_json);
    if (!digest.ok()) return digest.status();
    absl::StatusOr<std::string> body = fetch_by_digest(*digest);
    if (!body.ok()) return body.status();
    manifest = json::parse(*body, nullptr, false);
    if (!manifest.is_object() || manifest.contains("manifests")) {
      return absl::InvalidArgumentError("manifest: the host's entry is not an image manifest");
    }
  }
  if (!manifest["layers"].is_array()) return absl::InvalidArgumentError("manifest: no layers");
  std::vector<LayerSize> layers;
  for (const json& layer : manifest["layers"]) {
    // value(), not operator[]: on a const json, [] with a missing key is
    // undefined behaviour, and the manifest comes from a registry.
    if (!layer.is_object() || !layer.value("digest", json()).is_string()) {
      return absl::InvalidArgumentError("manifest: a layer without a digest");
    }
    LayerSize l;
    l.digest = layer.at("digest").get<std::string>();
    if (json size = layer.value("size", json()); size.is_number_unsigned()) {
      l.size = size.get<uint64_t>();
    }
    layers.push_back(std::move(l));
  }
  return layers;
}

ImageProgress LayersPresent(const std::vector<LayerSize>& layers, const std::string& blobs_dir) {
  ImageProgress p;
  p.pulling = true;
  p.layers_total = static_cast<int>(layers.size());
  for (const auto& l : layers) {
    p.bytes_total += l.size;
    if (l.digest.rfind("sha256:", 0) != 0) continue;
    struct stat st {};
    if (stat(absl::StrCat(blobs_dir, "/", l.digest.substr(7)).c_str(), &st) == 0) {
      ++p.layers_done;
      p.bytes_done += l.size;
    }
  }
  return p;
}

PullProgressWatcher::PullProgressWatcher(
    std::string blobs_dir, std::function<absl::StatusOr<std::vector<LayerSize>>()> remote_layers,
    ImageProgressFn report, std::chrono::milliseconds interval, std::chrono::milliseconds quiet)
    : blobs_dir_(std::move(blobs_dir)),
      layers_fn_(std::move(remote_layers)),
      report_(std::move(report)),
      interval_(interval),
      quiet_(quiet) {
  if (report_) thread_ = std::thread([this] { Run(); });
}

PullProgressWatcher::~PullProgressWatcher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PullProgressWatcher::Finish(const std::vector<LayerSize>& layers) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (report_) report_(LayersPresent(layers, blobs_dir_));
}

void PullProgressWatcher::Run() {
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (cv_.wait_for(lock, quiet_, [this] { return stop_; })) return;  // a short pull
  }
  absl::StatusOr<std::vector<LayerSize>> layers = layers_fn_();
  if (!layers.ok()) return;
  int last_done = -1;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    lock.unlock();
    ImageProgress p = LayersPresent(*layers, blobs_dir_);
    if (p.layers_done != last_done) {  // only news is reported
      report_(p);
      last_done = p.layers_done;
    }
    lock.lock();
    cv_.wait_for(lock, interval_, [this] { return stop_; });
  }
}

}  // namespace osgv
