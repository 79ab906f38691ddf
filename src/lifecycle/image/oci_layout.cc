#include "lifecycle/image/oci_layout.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lifecycle/image/digest.h"
#include "lifecycle/image/image_fs.h"
#include "lifecycle/image/status_util.h"
#include "lifecycle/unique_fd.h"

namespace osgv {
namespace {

using nlohmann::json;

constexpr char kRefNameAnnotation[] = "org.opencontainers.image.ref.name";

constexpr char kOciIndex[] = "application/vnd.oci.image.index.v1+json";
constexpr char kDockerManifestList[] = "application/vnd.docker.distribution.manifest.list.v2+json";
constexpr char kOciManifest[] = "application/vnd.oci.image.manifest.v1+json";
constexpr char kDockerManifest[] = "application/vnd.docker.distribution.manifest.v2+json";

const std::set<std::string>& ConfigMediaTypes() {
  static const std::set<std::string> types = {
      "application/vnd.oci.image.config.v1+json",
      "application/vnd.docker.container.image.v1+json",
  };
  return types;
}

// Everything libarchive's filter_all + tar reader unpacks. Foreign and
// nondistributable layers are absent on purpose: their bytes are not in the
// layout.
const std::set<std::string>& LayerMediaTypes() {
  static const std::set<std::string> types = {
      "application/vnd.oci.image.layer.v1.tar",
      "application/vnd.oci.image.layer.v1.tar+gzip",
      "application/vnd.oci.image.layer.v1.tar+zstd",
      "application/vnd.docker.image.rootfs.diff.tar.gzip",
  };
  return types;
}

absl::Status Unsupported(const std::string& what, const std::string& media_type) {
  return absl::FailedPreconditionError(
      absl::StrCat("unsupported media type '", media_type, "' for ", what));
}

absl::StatusOr<json> ParseJson(const std::string& bytes, const std::string& what) {
  json doc = json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return absl::FailedPreconditionError(absl::StrCat(what, " is not a JSON object"));
  }
  return doc;
}

std::string StringField(const json& obj, const char* name) {
  auto it = obj.find(name);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

absl::StatusOr<Descriptor> ParseDescriptor(const json& j, const std::string& what) {
  if (!j.is_object()) return absl::FailedPreconditionError(what + " is not an object");
  Descriptor d;
  d.media_type = StringField(j, "mediaType");
  d.digest = StringField(j, "digest");
  if (!IsSha256Digest(d.digest)) {
    // Also what keeps a digest from naming a path outside blobs/sha256/.
    return absl::FailedPreconditionError(
        absl::StrCat(what, ": digest '", d.digest, "' is not sha256:<64 lowercase hex>"));
  }
  if (auto it = j.find("size"); it != j.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 0) {
      return absl::FailedPreconditionError(absl::StrCat(what, ": size must be a count of bytes"));
    }
    d.size = it->get<int64_t>();
  }
  return d;
}

absl::StatusOr<std::vector<json>> DescriptorList(const json& doc, const char* field,
                                                 const std::string& what) {
  auto it = doc.find(field);
  if (it == doc.end() || !it->is_array()) {
    return absl::FailedPreconditionError(absl::StrCat(what, " has no '", field, "' array"));
  }
  return std::vector<json>(it->begin(), it->end());
}

std::string RefName(const json& entry) {
  auto it = entry.find("annotations");
  return it != entry.end() && it->is_object() ? StringField(*it, kRefNameAnnotation) : "";
}

std::string PlatformOf(const json& entry) {
  auto it = entry.find("platform");
  if (it == entry.end() || !it->is_object()) return "?";
  return absl::StrCat(StringField(*it, "os"), "/", StringField(*it, "architecture"));
}

// The descriptor index.json names for `tag` (or its only one for "").
absl::StatusOr<json> SelectFromIndex(const json& index, const std::string& tag,
                                     const std::string& layout_dir) {
  absl::StatusOr<std::vector<json>> entries = DescriptorList(index, "manifests", "index.json");
  if (!entries.ok()) return entries.status();
  std::vector<std::string> tags;
  for (const json& e : *entries) {
    if (std::string name = RefName(e); !name.empty()) tags.push_back(name);
  }
  if (tag.empty()) {
    if (entries->size() == 1) return entries->front();
    return absl::FailedPreconditionError(absl::StrCat(
        "OCI layout ", layout_dir, " holds ", entries->size(), " manifests; name one as oci:",
        layout_dir, ":<tag> (tags: ", absl::StrJoin(tags, ", "), ")"));
  }
  const json* found = nullptr;
  for (const json& e : *entries) {
    if (RefName(e) != tag) continue;
    if (found != nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("tag '", tag, "' names more than one manifest in OCI layout ", layout_dir));
    }
    found = &e;
  }
  if (found == nullptr) {
    return absl::NotFoundError(absl::StrCat("tag '", tag, "' not found in OCI layout ", layout_dir,
                                            " (tags: ", absl::StrJoin(tags, ", "), ")"));
  }
  return *found;
}

// From a multi-platform index, the linux entry for this host's architecture.
absl::StatusOr<json> SelectPlatform(const json& index, const std::string& index_digest) {
  absl::StatusOr<std::vector<json>> entries = DescriptorList(index, "manifests", "image index");
  if (!entries.ok()) return entries.status();
  std::string want = absl::StrCat("linux/", HostArchitecture());
  std::vector<std::string> have;
  for (const json& e : *entries) {
    std::string platform = PlatformOf(e);
    if (platform == want) return e;
    have.push_back(platform);
  }
  return absl::FailedPreconditionError(absl::StrCat("image index ", index_digest, " has no ", want,
                                                    " manifest (has: ", absl::StrJoin(have, ", "),
                                                    ")"));
}

// A manifest body's own mediaType wins only if the descriptor had none;
// very old manifests carry neither, so fall back to their shape.
absl::StatusOr<std::string> EffectiveMediaType(const Descriptor& d, const json& doc) {
  std::string body = StringField(doc, "mediaType");
  if (!d.media_type.empty() && !body.empty() && body != d.media_type) {
    return absl::FailedPreconditionError(absl::StrCat(
        "blob ", d.digest, " is '", body, "' but its descriptor says '", d.media_type, "'"));
  }
  if (!d.media_type.empty()) return d.media_type;
  if (!body.empty()) return body;
  if (doc.contains("manifests")) return std::string(kOciIndex);
  if (doc.contains("layers")) return std::string(kOciManifest);
  return std::string();
}

absl::StatusOr<ResolvedManifest> ParseManifest(const Descriptor& self, const json& doc) {
  std::string what = absl::StrCat("manifest ", self.digest);
  ResolvedManifest out;
  out.manifest = self;
  auto config_it = doc.find("config");
  if (config_it == doc.end()) return absl::FailedPreconditionError(what + " has no config");
  absl::StatusOr<Descriptor> config = ParseDescriptor(*config_it, what + " config");
  if (!config.ok()) return config.status();
  if (!ConfigMediaTypes().count(config->media_type)) {
    return Unsupported(absl::StrCat("config ", config->digest), config->media_type);
  }
  out.config = *config;
  absl::StatusOr<std::vector<json>> layers = DescriptorList(doc, "layers", what);
  if (!layers.ok()) return layers.status();
  for (const json& l : *layers) {
    absl::StatusOr<Descriptor> layer = ParseDescriptor(l, what + " layer");
    if (!layer.ok()) return layer.status();
    if (!LayerMediaTypes().count(layer->media_type)) {
      return Unsupported(absl::StrCat("layer ", layer->digest), layer->media_type);
    }
    out.layers.push_back(*layer);
  }
  return out;
}

constexpr int kSubdirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

// realpath(3); nullopt when the path does not resolve (a missing root
// holds nothing).
std::optional<std::string> RealPath(const std::string& path) {
  std::unique_ptr<char, decltype(&std::free)> real(::realpath(path.c_str(), nullptr), &std::free);
  if (!real) return std::nullopt;
  return std::string(real.get());
}

}  // namespace

const char* HostArchitecture() {
#if defined(__x86_64__)
  return "amd64";
#elif defined(__aarch64__)
  return "arm64";
#elif defined(__powerpc64__) && defined(__LITTLE_ENDIAN__)
  return "ppc64le";
#elif defined(__s390x__)
  return "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
  return "riscv64";
#else
#error "unsupported host architecture (gVisor runs on amd64 and arm64)"
#endif
}

struct OciLayout::DirFd {
  int fd = -1;
  absl::Status status;  // why the directory could not be opened
  ~DirFd() {
    if (fd >= 0) ::close(fd);
  }
};

OciLayout::OciLayout(std::string dir) : dir_(std::move(dir)) {
  auto d = std::make_shared<DirFd>();
  d->fd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (d->fd < 0) {
    int err = errno;
    d->status = err == ENOENT || err == ENOTDIR
                    ? absl::NotFoundError(absl::StrCat("OCI layout ", dir_, " does not exist"))
                    : PosixError(err, "cannot open OCI layout", dir_);
  }
  dir_fd_ = std::move(d);
}

int OciLayout::fd() const { return dir_fd_->fd; }

absl::StatusOr<std::string> OciLayout::ReadMetadataFile(const char* name) const {
  return image_fs::ReadFileAt(fd(), name, image_fs::kMaxMetadataBytes,
                              absl::StrCat(dir_, "/", name));
}

absl::StatusOr<BlobFile> OciLayout::OpenBlob(const Descriptor& d) const {
  if (!dir_fd_->status.ok()) return dir_fd_->status;
  std::string display = absl::StrCat(dir_, "/blobs/sha256/", d.digest.substr(sizeof("sha256:") - 1));
  // blobs/ and blobs/sha256/ one component at a time, neither a symlink.
  UniqueFd blobs(::openat(fd(), "blobs", kSubdirFlags));
  UniqueFd sha256(blobs.get() >= 0 ? ::openat(blobs.get(), "sha256", kSubdirFlags) : -1);
  if (sha256.get() < 0) {
    if (errno == ENOENT) {
      return absl::FailedPreconditionError(
          absl::StrCat("blob ", d.digest, " is missing from OCI layout ", dir_));
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "OCI layout ", dir_, ": blobs/sha256 is not a directory (symlinks are not followed)"));
  }
  return BlobFile::OpenAt(sha256.get(), d.digest.substr(sizeof("sha256:") - 1), d.digest, d.size,
                          display);
}

absl::StatusOr<std::string> OciLayout::ReadBlob(const Descriptor& d) const {
  absl::StatusOr<BlobFile> blob = OpenBlob(d);
  if (!blob.ok()) return blob.status();
  return blob->ReadVerified(image_fs::kMaxMetadataBytes);
}

absl::Status OciLayout::CheckPlace(const OciLayoutPolicy& policy) const {
  if (!dir_fd_->status.ok()) return dir_fd_->status;
  // Where the descriptor we read through really is, not what the path
  // names now: no rename or symlink swap after the open changes it.
  std::optional<std::string> real = RealPath(absl::StrCat("/proc/self/fd/", fd()));
  if (!real) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot tell where OCI layout ", dir_, " is (is /proc mounted?)"));
  }
  OciLayoutPolicy resolved;
  for (const std::string& root : policy.roots) {
    if (std::optional<std::string> r = RealPath(root)) resolved.roots.push_back(*r);
  }
  for (const std::string& dir : policy.forbidden) {
    resolved.forbidden.push_back(RealPath(dir).value_or(dir));
  }
  absl::Status allowed = CheckOciLayoutDir(*real, resolved);
  if (allowed.ok() || *real == dir_) return allowed;
  return Prefixed(absl::StrCat("OCI layout ", dir_, " resolves to ", *real), allowed);
}

absl::StatusOr<ResolvedManifest> OciLayout::Resolve(const std::string& tag) const {
  if (!dir_fd_->status.ok()) return dir_fd_->status;
  struct stat st;
  if (::fstatat(fd(), "oci-layout", &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(dir_, " is not an OCI image layout (no oci-layout file)"));
  }
  absl::StatusOr<std::string> index_bytes = ReadMetadataFile("index.json");
  if (!index_bytes.ok()) return index_bytes.status();
  absl::StatusOr<json> index = ParseJson(*index_bytes, dir_ + "/index.json");
  if (!index.ok()) return index.status();
  absl::StatusOr<json> entry = SelectFromIndex(*index, tag, dir_);
  if (!entry.ok()) return entry.status();
  absl::StatusOr<Descriptor> d = ParseDescriptor(*entry, "index.json entry");
  if (!d.ok()) return d.status();
  return ResolveDescriptor(*d, 0);
}

absl::StatusOr<ResolvedManifest> OciLayout::ResolveDescriptor(const Descriptor& d,
                                                              int depth) const {
  // index -> platform index -> manifest is the deepest real layouts go.
  if (depth > 2) {
    return absl::FailedPreconditionError(
        absl::StrCat("image indexes nested too deeply at ", d.digest));
  }
  absl::StatusOr<std::string> bytes = ReadBlob(d);
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<json> doc = ParseJson(*bytes, absl::StrCat("blob ", d.digest));
  if (!doc.ok()) return doc.status();
  absl::StatusOr<std::string> type = EffectiveMediaType(d, *doc);
  if (!type.ok()) return type.status();

  if (*type == kOciIndex || *type == kDockerManifestList) {
    absl::StatusOr<json> entry = SelectPlatform(*doc, d.digest);
    if (!entry.ok()) return entry.status();
    absl::StatusOr<Descriptor> child =
        ParseDescriptor(*entry, absl::StrCat("image index ", d.digest, " entry"));
    if (!child.ok()) return child.status();
    return ResolveDescriptor(*child, depth + 1);
  }
  if (*type == kOciManifest || *type == kDockerManifest) {
    Descriptor self = d;
    self.media_type = *type;
    return ParseManifest(self, *doc);
  }
  return Unsupported(absl::StrCat("manifest ", d.digest), *type);
}

absl::StatusOr<std::string> HostManifestDigest(const std::string& index_json) {
  json index = json::parse(index_json, nullptr, false);
  if (!index.is_object()) return absl::InvalidArgumentError("image index: not a JSON object");
  absl::StatusOr<json> entry = SelectPlatform(index, "from the registry");
  if (!entry.ok()) return entry.status();
  if (!entry->is_object() || !(*entry)["digest"].is_string()) {
    return absl::InvalidArgumentError("image index: the host's entry has no digest");
  }
  return (*entry)["digest"].get<std::string>();
}

}  // namespace osgv
