// The image cache: resolve an OCI layout reference to a manifest digest,
// then hand out rootfs/<hex>/, unpacking it first if no one has yet.
//
// Install order (crash safety): the config JSON is renamed into place
// before the rootfs directory, and a cache hit requires both, so a crash
// between the two renames just means the next Prepare unpacks again.
#include "lifecycle/image/image_store.h"
#include "lifecycle/image/pull_progress.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "lifecycle/image/digest.h"
#include "lifecycle/image/image_config.h"
#include "lifecycle/image/image_fs.h"
#include "lifecycle/image/layer_unpack.h"
#include "lifecycle/image/oci_layout.h"
#include "lifecycle/image/status_util.h"
#include "lifecycle/step_clock.h"

namespace osgv {
namespace {

namespace fs = std::filesystem;

// Where one image lives in the cache.
struct CachePaths {
  CachePaths(const std::string& cache_dir, const std::string& hex) : hex(hex) {
    std::error_code ec;
    fs::path abs = fs::absolute(cache_dir, ec).lexically_normal();
    std::string root = (abs.has_filename() ? abs : abs.parent_path()).string();  // no trailing '/'
    rootfs_parent = root + "/rootfs";
    tmp = root + "/tmp";
    rootfs = rootfs_parent + "/" + hex;
    config_json = rootfs + ".json";
  }
  std::string hex;
  std::string rootfs_parent;
  std::string tmp;
  std::string rootfs;       // rootfs/<hex>/
  std::string config_json;  // rootfs/<hex>.json: the verified config blob
};

bool IsCached(const CachePaths& p) {
  struct stat st;
  return ::lstat(p.rootfs.c_str(), &st) == 0 && S_ISDIR(st.st_mode) &&
         ::lstat(p.config_json.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// Our own copy of the (verified) config blob; unreadable means the cache
// was tampered with or the disk is failing.
absl::StatusOr<ImageConfig> LoadCachedConfig(const CachePaths& p) {
  absl::StatusOr<std::string> blob =
      image_fs::ReadFileLimited(p.config_json, image_fs::kMaxMetadataBytes);
  absl::StatusOr<ImageConfig> config =
      blob.ok() ? ParseImageConfig(*blob) : absl::StatusOr<ImageConfig>(blob.status());
  if (!config.ok()) {
    return absl::InternalError(
        absl::StrCat("cached config ", p.config_json, ": ", config.status().message()));
  }
  return config;
}

absl::Status MakeCacheDirs(const CachePaths& p) {
  for (const std::string& dir : {p.rootfs_parent, p.tmp}) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return absl::InternalError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  }
  return absl::OkStatus();
}

// Moves a finished staging tree into the cache; see the file comment for
// why the config goes first.
absl::Status Install(const std::string& staged_rootfs, const std::string& staged_config,
                     const CachePaths& p) {
  if (absl::Status s = image_fs::Rename(staged_config, p.config_json); !s.ok()) return s;
  if (std::rename(staged_rootfs.c_str(), p.rootfs.c_str()) != 0) {
    // Another process installed the same digest first; its tree is
    // byte-for-byte what ours would be, so keep it and drop ours.
    int err = errno;
    if (err != EEXIST && err != ENOTEMPTY) {
      absl::Status s =
          absl::ErrnoToStatus(err, absl::StrCat("cannot rename ", staged_rootfs, " to ", p.rootfs));
      ::unlink(p.config_json.c_str());
      return s;
    }
  }
  return image_fs::FsyncDir(p.rootfs_parent);
}

// Verifies and applies every layer into a fresh staging dir, then installs
// it. Returns the image config. On any error the staging dir is removed and
// nothing has been installed.
absl::StatusOr<ImageConfig> Unpack(const OciLayout& layout, const ResolvedManifest& manifest,
                                   const CachePaths& paths, const ImageProgressFn& progress) {
  StepClock clock;
  absl::StatusOr<std::string> config_blob = layout.ReadBlob(manifest.config);
  if (!config_blob.ok()) return Prefixed("config", config_blob.status());
  absl::StatusOr<ImageConfig> config = ParseImageConfig(*config_blob);
  if (!config.ok()) return config.status();

  if (absl::Status s = MakeCacheDirs(paths); !s.ok()) return s;
  absl::StatusOr<image_fs::StagingDir> staging =
      image_fs::StagingDir::Create(paths.tmp, paths.hex.substr(0, 12));
  if (!staging.ok()) return staging.status();
  std::string staged_rootfs = staging->path() + "/rootfs";
  std::string staged_config = staging->path() + "/config.json";
  if (::mkdir(staged_rootfs.c_str(), 0755) != 0) {
    return PosixError(errno, "cannot create", staged_rootfs);
  }

  ImageProgress done;
  done.layers_total = static_cast<int>(manifest.layers.size());
  for (const Descriptor& layer : manifest.layers) {
    done.bytes_total += std::max<int64_t>(layer.size, 0);
  }
  for (const Descriptor& layer : manifest.layers) {
    std::string what = absl::StrCat("layer ", done.layers_done + 1, "/", done.layers_total, " (",
                                    layer.digest, ")");
    // Opened once: verified in full before libarchive sees a byte of it,
    // then extracted from the same descriptor (and hashed again on the way).
    absl::StatusOr<BlobFile> blob = layout.OpenBlob(layer);
    if (!blob.ok()) return Prefixed(what, blob.status());
    if (absl::Status s = blob->Verify(); !s.ok()) return Prefixed(what, s);
    if (absl::Status s = ApplyLayer(*blob, staged_rootfs); !s.ok()) return Prefixed(what, s);
    done.layers_done++;
    done.bytes_done += std::max<int64_t>(layer.size, 0);
    if (progress) progress(done);
  }
  clock.Lap("verify+apply layers");

  if (absl::Status s = image_fs::WriteFileSynced(staged_config, *config_blob); !s.ok()) return s;
  if (absl::Status s = image_fs::SyncFilesystem(staged_rootfs); !s.ok()) return s;
  clock.Lap("sync");
  if (absl::Status s = Install(staged_rootfs, staged_config, paths); !s.ok()) return s;
  clock.Lap("install");
  spdlog::debug("image {}: unpacked: {}", manifest.manifest.digest, clock.Summary());
  return config;
}

// Touches the cached config so `images list` can say when an image was
// last used; best effort.
void MarkUsed(const CachePaths& p) { ::utimensat(AT_FDCWD, p.config_json.c_str(), nullptr, 0); }

}  // namespace

// The layout stays open from Resolve to the unpack, so what is unpacked is
// read from the directory that was checked.
struct ImageStore::Located {
  OciLayout layout;
  ResolvedManifest manifest;
};

ImageStore::ImageStore(std::string cache_dir, ImagePuller* puller,
                       std::optional<OciLayoutPolicy> oci_policy)
    : cache_dir_(std::move(cache_dir)), puller_(puller), oci_policy_(std::move(oci_policy)) {}

absl::StatusOr<PreparedImage> ImageStore::Prepare(const std::string& reference,
                                                  const ImageProgressFn& progress,
                                                  const PrepareOptions& options) {
  absl::StatusOr<ImageReference> ref = ParseImageReference(reference);
  if (!ref.ok()) return ref.status();  // already names the reference
  const std::string& pinned = options.pinned_digest;
  if (!pinned.empty()) {
    if (!IsSha256Digest(pinned)) {
      return absl::InvalidArgumentError(
          absl::StrCat("image '", reference, "': recorded digest '", pinned, "' is malformed"));
    }
    CachePaths paths(cache_dir_, pinned.substr(sizeof("sha256:") - 1));
    if (IsCached(paths)) {
      absl::StatusOr<ImageConfig> config = LoadCachedConfig(paths);
      if (!config.ok()) return Prefixed(absl::StrCat("image '", reference, "'"), config.status());
      MarkUsed(paths);
      if (observer_ && ref->is_registry()) observer_->OnCacheHit();
      return PreparedImage{reference, pinned, *std::move(config), paths.rootfs};
    }
    // Not cached (gc, another host): fetch exactly that manifest.
    if (ref->is_registry()) ref->digest = pinned;
  }
  absl::StatusOr<Located> located = Locate(*ref, options.pull_policy, progress);
  if (!located.ok()) {
    // Registry errors already name the image, in canonical form.
    if (ref->is_registry()) return located.status();
    return Prefixed(absl::StrCat("image '", reference, "'"), located.status());
  }
  if (!pinned.empty() && located->manifest.manifest.digest != pinned) {
    return absl::FailedPreconditionError(
        absl::StrCat("image '", reference, "' resolves to ", located->manifest.manifest.digest,
                     " but the sandbox ran on ", pinned,
                     "; put that image back under this reference"));
  }
  return Materialize(reference, *located, progress);
}

absl::StatusOr<ImageStore::Located> ImageStore::Locate(const ImageReference& ref,
                                                       PullPolicy policy,
                                                       const ImageProgressFn& progress) {
  if (ref.is_registry()) return LocateInRegistryLayout(ref, policy, progress);
  OciLayout layout(ref.layout_dir);
  // Validation checked the path as written; this checks where it leads.
  if (oci_policy_) {
    if (absl::Status s = layout.CheckPlace(*oci_policy_); !s.ok()) return s;
  }
  absl::StatusOr<ResolvedManifest> manifest = layout.Resolve(ref.tag);
  if (!manifest.ok()) return manifest.status();
  return Located{std::move(layout), *std::move(manifest)};
}

std::shared_ptr<ImageStore::PullSlot> ImageStore::SlotFor(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<PullSlot>& slot = pull_slots_[name];
  if (!slot) slot = std::make_shared<PullSlot>();
  return slot;
}

absl::StatusOr<ImageStore::Located> ImageStore::FindPulled(const std::string& name) {
  absl::StatusOr<image_fs::FileLock> lock = image_fs::FileLock::Acquire(blobs_lock(), false);
  if (!lock.ok()) return lock.status();
  OciLayout layout(blobs_layout());
  absl::StatusOr<ResolvedManifest> manifest = layout.Resolve(name);
  if (!manifest.ok()) return manifest.status();
  return Located{std::move(layout), *std::move(manifest)};
}

absl::StatusOr<ImageStore::Located> ImageStore::LocateInRegistryLayout(
    const ImageReference& ref, PullPolicy policy, const ImageProgressFn& progress) {
  const std::string name = ref.Canonical();
  const std::string context = absl::StrCat("image '", name, "'");
  std::error_code ec;
  fs::create_directories(cache_dir_, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", cache_dir_, ": ", ec.message()));

  // Single flight per reference: a caller that waited here while another
  // pulled uses that pull's result instead of asking the registry again.
  std::shared_ptr<PullSlot> slot = SlotFor(name);
  const uint64_t seen = slot->pulls;
  std::lock_guard<std::mutex> pulling(slot->mu);
  const bool fresh = slot->pulls != seen;
  if (policy != PullPolicy::kAlways || !ref.digest.empty() || fresh) {
    absl::StatusOr<Located> present = FindPulled(name);
    if (present.ok()) {
      if (observer_) observer_->OnCacheHit();
      return present;
    }
    if (policy == PullPolicy::kNever) {
      return absl::FailedPreconditionError(absl::StrCat(
          context, ": not in the image store and the pull policy is never (",
          present.status().message(), ")"));
    }
  }
  if (puller_ == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(context, ": registry images need skopeo, which this command does not run"));
  }
  absl::Status pulled;
  absl::StatusOr<ResolvedManifest> manifest = absl::UnknownError("not pulled");
  uint64_t layer_bytes = 0;
  {
    absl::StatusOr<image_fs::FileLock> lock = image_fs::FileLock::Acquire(blobs_lock(), true);
    if (!lock.ok()) return lock.status();
    // Progress comes from watching the blobs arrive; for a long pull the
    // manifest it needs is fetched on the watcher's thread, beside the copy.
    PullProgressWatcher watcher(
        blobs_layout() + "/blobs/sha256",
        [this, ref]() -> absl::StatusOr<std::vector<LayerSize>> {
          absl::StatusOr<std::string> raw = puller_->RawManifest(ref);
          if (!raw.ok()) return raw.status();
          return ManifestLayers(*raw, [&](const std::string& digest) {
            ImageReference entry = ref;
            entry.digest = digest;
            return puller_->RawManifest(entry);
          });
        },
        progress);
    StepClock clock;
    pulled = puller_->Pull(ref, blobs_layout(), name);
    spdlog::debug("image {}: skopeo copy took {:.1f} ms", name, clock.TotalMs());
    if (pulled.ok()) {
      // Resolved once, under the layout's lock we hold: for the final
      // progress report and for the caller.
      manifest = OciLayout(blobs_layout()).Resolve(name);
      std::vector<LayerSize> layers;
      if (manifest.ok()) {
        for (const Descriptor& d : manifest->layers) {
          layers.push_back({d.digest, static_cast<uint64_t>(std::max<int64_t>(d.size, 0))});
          layer_bytes += layers.back().size;
        }
      }
      watcher.Finish(layers);
    }
  }
  slot->pulls++;
  if (observer_) observer_->OnPull(pulled.ok() && manifest.ok(), manifest.ok() ? layer_bytes : 0);
  if (!pulled.ok()) return pulled;  // names the image and the cause
  if (!manifest.ok()) return Prefixed(context, manifest.status());
  return Located{OciLayout(blobs_layout()), *std::move(manifest)};
}

absl::StatusOr<PreparedImage> ImageStore::Materialize(const std::string& reference,
                                                      const Located& located,
                                                      const ImageProgressFn& progress) {
  std::string context = absl::StrCat("image '", reference, "'");
  const ResolvedManifest& manifest = located.manifest;
  const OciLayout& layout = located.layout;
  CachePaths paths(cache_dir_, manifest.manifest.digest.substr(sizeof("sha256:") - 1));
  // Single flight: whoever finds the digest neither cached nor in flight
  // unpacks it; everyone else waits and then finds it cached. If that
  // unpack failed, the next waiter tries again itself (the cause may have
  // been transient, and a bad blob fails fast at verification).
  bool claimed = false;
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return in_flight_.count(paths.hex) == 0; });
    if (!IsCached(paths)) {
      in_flight_.insert(paths.hex);
      claimed = true;
    }
  }

  absl::StatusOr<ImageConfig> config;
  if (claimed) {
    // Released on every path out, exceptions included, so waiters never hang.
    struct Release {
      ImageStore* self;
      const std::string& hex;
      ~Release() {
        {
          std::lock_guard<std::mutex> lock(self->mu_);
          self->in_flight_.erase(hex);
        }
        self->cv_.notify_all();
      }
    } release{this, paths.hex};
    config = Unpack(layout, manifest, paths, progress);
  } else {
    config = LoadCachedConfig(paths);
  }
  if (!config.ok()) return Prefixed(context, config.status());
  MarkUsed(paths);

  PreparedImage out;
  out.reference = reference;
  out.manifest_digest = manifest.manifest.digest;
  out.config = *std::move(config);
  out.rootfs_dir = paths.rootfs;
  return out;
}

void ImageStore::CleanStaging() {
  std::error_code ec;
  std::string tmp = CachePaths(cache_dir_, "").tmp;
  // Best effort: whatever cannot be removed now is retried next startup.
  for (fs::directory_iterator it(tmp, ec), end; !ec && it != end; it.increment(ec)) {
    (void)image_fs::ForceRemoveAll(it->path());
  }
}

}  // namespace osgv
