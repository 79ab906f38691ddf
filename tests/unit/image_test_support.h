// Test fixtures for the image code: temp dirs, tar layers written with
// libarchive, and hand-built OCI layouts with correct digests. Shared by
// layer_unpack_test.cc and image_store_test.cc; header-only so the unit test
// glob (unit/*_test.cc) needs no change.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "temp_dir.h"
#include "lifecycle/image/digest.h"
#include "lifecycle/image/image_fs.h"

namespace osgv::testing {

inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

inline void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  REQUIRE(out.good());
}

// One tar entry; `data` is file content or the link target.
struct TarEntry {
  enum Type { kFile, kDir, kSymlink, kHardlink, kFifo, kCharDev };
  std::string path;
  Type type = kFile;
  std::string data;
  int mode = 0644;
  int64_t mtime = 1700000000;
};

inline TarEntry File(std::string path, std::string data = "", int mode = 0644) {
  return {std::move(path), TarEntry::kFile, std::move(data), mode};
}
inline TarEntry Dir(std::string path, int mode = 0755) {
  return {std::move(path), TarEntry::kDir, "", mode};
}
inline TarEntry Symlink(std::string path, std::string target) {
  return {std::move(path), TarEntry::kSymlink, std::move(target), 0777};
}
inline TarEntry Hardlink(std::string path, std::string target) {
  return {std::move(path), TarEntry::kHardlink, std::move(target), 0644};
}
inline TarEntry Fifo(std::string path) { return {std::move(path), TarEntry::kFifo, "", 0644}; }
inline TarEntry CharDev(std::string path) {
  return {std::move(path), TarEntry::kCharDev, "", 0666};
}

enum class Compression { kNone, kGzip, kZstd };

// Writes the entries, in order, as a pax tarball (what image builders
// produce), optionally compressed.
inline void WriteTar(const std::string& out_path, const std::vector<TarEntry>& entries,
                     Compression compression = Compression::kNone) {
  archive* a = archive_write_new();
  REQUIRE(archive_write_set_format_pax_restricted(a) == ARCHIVE_OK);
  if (compression == Compression::kGzip) REQUIRE(archive_write_add_filter_gzip(a) == ARCHIVE_OK);
  if (compression == Compression::kZstd) REQUIRE(archive_write_add_filter_zstd(a) == ARCHIVE_OK);
  REQUIRE(archive_write_open_filename(a, out_path.c_str()) == ARCHIVE_OK);
  for (const TarEntry& e : entries) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, e.path.c_str());
    archive_entry_set_perm(entry, e.mode);
    archive_entry_set_mtime(entry, e.mtime, 0);
    archive_entry_set_uid(entry, 0);
    archive_entry_set_gid(entry, 0);
    switch (e.type) {
      case TarEntry::kFile:
        archive_entry_set_filetype(entry, AE_IFREG);
        archive_entry_set_size(entry, e.data.size());
        break;
      case TarEntry::kDir:
        archive_entry_set_filetype(entry, AE_IFDIR);
        break;
      case TarEntry::kSymlink:
        archive_entry_set_filetype(entry, AE_IFLNK);
        archive_entry_set_symlink(entry, e.data.c_str());
        break;
      case TarEntry::kHardlink:
        archive_entry_set_filetype(entry, AE_IFREG);
        archive_entry_set_hardlink(entry, e.data.c_str());
        archive_entry_set_size(entry, 0);
        break;
      case TarEntry::kFifo:
        archive_entry_set_filetype(entry, AE_IFIFO);
        break;
      case TarEntry::kCharDev:
        archive_entry_set_filetype(entry, AE_IFCHR);
        archive_entry_set_rdevmajor(entry, 1);
        archive_entry_set_rdevminor(entry, 3);
        break;
    }
    REQUIRE(archive_write_header(a, entry) >= ARCHIVE_WARN);
    if (e.type == TarEntry::kFile && !e.data.empty()) {
      REQUIRE(archive_write_data(a, e.data.data(), e.data.size()) ==
              static_cast<la_ssize_t>(e.data.size()));
    }
    archive_entry_free(entry);
  }
  REQUIRE(archive_write_close(a) == ARCHIVE_OK);
  archive_write_free(a);
}

namespace media {
inline constexpr char kLayerTar[] = "application/vnd.oci.image.layer.v1.tar";
inline constexpr char kLayerGzip[] = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr char kLayerZstd[] = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr char kManifest[] = "application/vnd.oci.image.manifest.v1+json";
inline constexpr char kIndex[] = "application/vnd.oci.image.index.v1+json";
inline constexpr char kConfig[] = "application/vnd.oci.image.config.v1+json";
}  // namespace media

// Builds an OCI image layout the way skopeo/umoci lay it out on disk.
class OciLayoutBuilder {
 public:
  using json = nlohmann::json;

  explicit OciLayoutBuilder(std::string dir) : dir_(std::move(dir)) {
    std::filesystem::create_directories(dir_ + "/blobs/sha256");
    WriteAll(dir_ + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  }

  const std::string& dir() const { return dir_; }
  std::string BlobPath(const std::string& digest) const {
    return dir_ + "/blobs/sha256/" + digest.substr(7);
  }

  // Stores bytes as a blob and returns its descriptor.
  json AddBlob(const std::string& media_type, const std::string& bytes) {
    std::string digest = Sha256String(bytes);
    WriteAll(BlobPath(digest), bytes);
    return {{"mediaType", media_type}, {"digest", digest}, {"size", bytes.size()}};
  }

  json AddLayer(const std::vector<TarEntry>& entries,
                Compression compression = Compression::kNone) {
    std::string tmp = dir_ + "/layer.tmp";
    WriteTar(tmp, entries, compression);
    std::string bytes = ReadAll(tmp);
    std::filesystem::remove(tmp);
    const char* type = compression == Compression::kGzip   ? media::kLayerGzip
                       : compression == Compression::kZstd ? media::kLayerZstd
                                                           : media::kLayerTar;
    return AddBlob(type, bytes);
  }

  // An image manifest over `layers` (descriptors from AddLayer) with the
  // given `config` object; returns the manifest's descriptor.
  json AddImage(const std::vector<json>& layers, const json& config = json::object(),
                const std::string& manifest_type = media::kManifest,
                const std::string& config_type = media::kConfig) {
    json config_blob = {{"architecture", "amd64"},
                        {"os", "linux"},
                        {"config", config},
                        {"rootfs", {{"type", "layers"}, {"diff_ids", json::array()}}}};
    json manifest = {{"schemaVersion", 2},
                     {"mediaType", manifest_type},
                     {"config", AddBlob(config_type, config_blob.dump())},
                     {"layers", layers}};
    return AddBlob(manifest_type, manifest.dump());
  }

  // An image index over platform-tagged manifests: {descriptor, "os/arch"}.
  json AddIndex(const std::vector<std::pair<json, std::string>>& entries) {
    json manifests = json::array();
    for (auto [desc, platform] : entries) {
      size_t slash = platform.find('/');
      desc["platform"] = {{"os", platform.substr(0, slash)},
                          {"architecture", platform.substr(slash + 1)}};
      manifests.push_back(desc);
    }
    json index = {{"schemaVersion", 2}, {"mediaType", media::kIndex}, {"manifests", manifests}};
    return AddBlob(media::kIndex, index.dump());
  }

  static json Tagged(json descriptor, const std::string& tag) {
    descriptor["annotations"] = {{"org.opencontainers.image.ref.name", tag}};
    return descriptor;
  }

  void WriteIndex(const std::vector<json>& manifests) {
    json index = {{"schemaVersion", 2}, {"mediaType", media::kIndex}, {"manifests", manifests}};
    WriteAll(dir_ + "/index.json", index.dump());
  }

 private:
  std::string dir_;
};

}  // namespace osgv::testing
