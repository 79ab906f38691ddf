#include "lifecycle/image/image_inventory.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "lifecycle/image/digest.h"
#include "lifecycle/image/image_fs.h"
#include "lifecycle/image/oci_layout.h"
#include "lifecycle/image/status_util.h"

namespace osgv {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr char kRefName[] = "org.opencontainers.image.ref.name";

// The store's paths; ImageStore (image_store.h) documents the layout.
struct StorePaths {
  explicit StorePaths(const std::string& cache)
      : layout(cache + "/blobs-layout"), lock(cache + "/blobs-layout.lock"),
        rootfs(cache + "/rootfs") {}
  std::string layout, lock, rootfs;
};

// One name in the blob store's index.json, resolved to what it needs.
struct Entry {
  json raw;
  std::string name;
  std::string digest;             // the platform manifest (resolved)
  std::set<std::string> blobs;    // every blob it needs, index included
  uint64_t size = 0;
  bool resolved = false;
};

std::string NameOf(const json& e) {
  auto a = e.find("annotations");
  if (a == e.end() || !a->is_object()) return "";
  auto n = a->find(kRefName);
  return n != a->end() && n->is_string() ? n->get<std::string>() : "";
}

absl::StatusOr<std::vector<Entry>> ReadEntries(const StorePaths& p) {
  std::vector<Entry> out;
  std::string index_path = p.layout + "/index.json";
  if (!fs::exists(index_path)) return out;
  absl::StatusOr<std::string> bytes =
      image_fs::ReadFileLimited(index_path, image_fs::kMaxMetadataBytes);
  if (!bytes.ok()) return bytes.status();
  json index = json::parse(*bytes, nullptr, false);
  if (index.is_discarded() || !index.contains("manifests") || !index["manifests"].is_array()) {
    return absl::FailedPreconditionError(index_path + " is not an OCI index");
  }
  OciLayout layout(p.layout);
  for (const json& raw : index["manifests"]) {
    Entry e;
    e.raw = raw;
    e.name = NameOf(raw);
    e.digest = raw.value("digest", "");
    if (IsSha256Digest(e.digest)) e.blobs.insert(e.digest);
    if (!e.name.empty()) {
      if (absl::StatusOr<ResolvedManifest> m = layout.Resolve(e.name); m.ok()) {
        e.resolved = true;
        e.digest = m->manifest.digest;
        for (const Descriptor* d : {&m->manifest, &m->config}) {
          e.blobs.insert(d->digest);
          e.size += std::max<int64_t>(d->size, 0);
        }
        for (const Descriptor& l : m->layers) {
          e.blobs.insert(l.digest);
          e.size += std::max<int64_t>(l.size, 0);
        }
      }
    }
    out.push_back(std::move(e));
  }
  return out;
}

absl::Status WriteEntries(const StorePaths& p, const std::vector<Entry>& entries) {
  json manifests = json::array();
  for (const Entry& e : entries) manifests.push_back(e.raw);
  json index = {{"schemaVersion", 2}, {"manifests", manifests}};
  std::string tmp = p.layout + "/index.json.gc-tmp";
  ::unlink(tmp.c_str());
  if (absl::Status s = image_fs::WriteFileSynced(tmp, index.dump()); !s.ok()) return s;
  return image_fs::Rename(tmp, p.layout + "/index.json");
}

// Deletes every blob no kept entry needs. Skipped (nothing deleted) when a
// kept entry could not be resolved: we cannot know what it needs.
absl::Status SweepBlobs(const StorePaths& p, const std::vector<Entry>& kept, GcResult& result) {
  std::set<std::string> reachable;
  for (const Entry& e : kept) {
    if (!e.resolved) return absl::OkStatus();
    reachable.insert(e.blobs.begin(), e.blobs.end());
  }
  std::error_code ec;
  for (fs::directory_iterator it(p.layout + "/blobs/sha256", ec), end; !ec && it != end;
       it.increment(ec)) {
    std::string digest = "sha256:" + it->path().filename().string();
    if (reachable.count(digest)) continue;
    std::error_code size_ec;
    uint64_t size = fs::file_size(it->path(), size_ec);
    if (::unlink(it->path().c_str()) == 0) {
      result.blobs_removed++;
      result.bytes_freed += size_ec ? 0 : size;
    }
  }
  return absl::OkStatus();
}

void RemoveUnpacked(const StorePaths& p, const std::string& digest) {
  std::string base = p.rootfs + "/" + digest.substr(sizeof("sha256:") - 1);
  // The config first: a cache hit needs both, so a half-removed image is
  // simply not cached (image_store.cc installs in the opposite order).
  ::unlink((base + ".json").c_str());
  (void)image_fs::ForceRemoveAll(base);
}

absl::StatusOr<std::vector<StoredImage>> ListUnlocked(const StorePaths& p) {
  absl::StatusOr<std::vector<Entry>> entries = ReadEntries(p);
  if (!entries.ok()) return entries.status();
  std::map<std::string, StoredImage> rows;
  for (const Entry& e : *entries) {
    StoredImage& row = rows[e.digest];
    row.digest = e.digest;
    if (!e.name.empty()) row.references.push_back(e.name);
    row.size_bytes = std::max(row.size_bytes, e.size);
  }
  std::error_code ec;
  for (fs::directory_iterator it(p.rootfs, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    std::string digest = "sha256:" + name;
    if (!IsSha256Digest(digest) || !it->is_directory()) continue;
    StoredImage& row = rows[digest];
    row.digest = digest;
    row.unpacked = true;
    struct stat st;
    if (::stat((it->path().string() + ".json").c_str(), &st) == 0) {
      row.last_used_ms = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
    }
  }
  std::vector<StoredImage> out;
  for (auto& [digest, row] : rows) out.push_back(std::move(row));
  return out;
}

}  // namespace

absl::StatusOr<std::vector<StoredImage>> ListStoredImages(const std::string& cache_dir) {
  StorePaths p(cache_dir);
  if (!fs::exists(cache_dir)) return std::vector<StoredImage>{};
  absl::StatusOr<image_fs::FileLock> lock = image_fs::FileLock::Acquire(p.lock, false);
  if (!lock.ok()) return lock.status();
  return ListUnlocked(p);
}

absl::StatusOr<GcResult> CollectGarbage(const std::string& cache_dir, const GcOptions& options) {
  StorePaths p(cache_dir);
  GcResult result;
  if (!fs::exists(cache_dir)) return result;
  absl::StatusOr<image_fs::FileLock> lock = image_fs::FileLock::Acquire(p.lock, true);
  if (!lock.ok()) return lock.status();
  absl::StatusOr<std::vector<StoredImage>> rows = ListUnlocked(p);
  if (!rows.ok()) return rows.status();
  std::set<std::string> keep = options.digests_in_use;
  for (const StoredImage& row : *rows) {
    bool recent = options.grace.count() > 0 && row.last_used_ms != 0 &&
                  options.now_ms - row.last_used_ms < options.grace.count();
    if (recent) keep.insert(row.digest);
  }
  absl::StatusOr<std::vector<Entry>> entries = ReadEntries(p);
  if (!entries.ok()) return entries.status();
  std::vector<Entry> kept;
  for (Entry& e : *entries) {
    if (keep.count(e.digest)) kept.push_back(std::move(e));
  }
  if (kept.size() != entries->size()) {
    if (absl::Status s = WriteEntries(p, kept); !s.ok()) return s;
  }
  for (const StoredImage& row : *rows) {
    if (keep.count(row.digest)) continue;
    if (row.unpacked) RemoveUnpacked(p, row.digest);
    result.removed_digests.push_back(row.digest);
  }
  if (absl::Status s = SweepBlobs(p, kept, result); !s.ok()) return s;
  return result;
}

absl::StatusOr<GcResult> RemoveStoredImage(const std::string& cache_dir,
                                           const std::string& reference,
                                           const std::set<std::string>& digests_in_use) {
  StorePaths p(cache_dir);
  GcResult result;
  absl::StatusOr<image_fs::FileLock> lock = image_fs::FileLock::Acquire(p.lock, true);
  if (!lock.ok()) return lock.status();
  absl::StatusOr<std::vector<Entry>> entries = ReadEntries(p);
  if (!entries.ok()) return entries.status();
  auto it = std::find_if(entries->begin(), entries->end(),
                         [&](const Entry& e) { return e.name == reference; });
  if (it == entries->end()) {
    return absl::NotFoundError(absl::StrCat("image '", reference, "' is not in the image store"));
  }
  const std::string digest = it->digest;
  if (digests_in_use.count(digest)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "image '", reference, "' (", digest, ") is used by a sandbox; delete the sandbox first"));
  }
  entries->erase(it);
  if (absl::Status s = WriteEntries(p, *entries); !s.ok()) return s;
  bool still_named = std::any_of(entries->begin(), entries->end(),
                                 [&](const Entry& e) { return e.digest == digest; });
  if (!still_named) {
    RemoveUnpacked(p, digest);
    result.removed_digests.push_back(digest);
  }
  if (absl::Status s = SweepBlobs(p, *entries, result); !s.ok()) return s;
  return result;
}

}  // namespace osgv
