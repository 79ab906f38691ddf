// Reading an OCI image layout directory (index.json, blobs/sha256/<hex>):
// from a tag to the manifest, config and layers to run, with every blob
// checked against its descriptor's digest and size before it is parsed.
// The directory may be untrusted (an image a request names), so nothing in
// it is followed out of it.
// Private to the image store.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "capabilities/image_reference.h"
#include "lifecycle/image/blob_file.h"

namespace osgv {

struct Descriptor {
  std::string media_type;
  std::string digest;  // always a valid "sha256:<hex>" once parsed
  int64_t size = -1;   // -1 = not given
};

struct ResolvedManifest {
  Descriptor manifest;  // its digest keys the rootfs cache
  Descriptor config;
  std::vector<Descriptor> layers;  // in application order; media types checked
};

// GOARCH spelling of the architecture this binary runs on ("amd64", ...):
// the platform picked from multi-arch image indexes.
const char* HostArchitecture();

// From the JSON of a multi-platform image index (OCI index or Docker
// manifest list): the digest of the linux manifest for this host's
// architecture. FAILED_PRECONDITION naming the platforms it has otherwise.
absl::StatusOr<std::string> HostManifestDigest(const std::string& index_json);

// The layout directory is opened once, when the object is made; every file
// inside it is then opened relative to that descriptor and without
// following symlinks (blobs/, blobs/sha256/, each blob, index.json), so
// nothing inside the layout can lead out of it. Copies share the descriptor.
class OciLayout {
 public:
  explicit OciLayout(std::string dir);

  // tag "" selects the layout's only manifest. Unknown tag: NOT_FOUND.
  // Unsupported manifest/config/layer media types: FAILED_PRECONDITION.
  absl::StatusOr<ResolvedManifest> Resolve(const std::string& tag) const;

  // The blob, opened (a regular file of the descriptor's size, not a
  // symlink) but not yet read; see BlobFile.
  absl::StatusOr<BlobFile> OpenBlob(const Descriptor& d) const;

  // The blob's bytes, only after they matched the descriptor (small JSON
  // blobs: manifests, indexes, configs).
  absl::StatusOr<std::string> ReadBlob(const Descriptor& d) const;

  // Applies `policy` to where the opened directory really is (symlinks
  // resolved) against the real paths of the policy's directories:
  // FAILED_PRECONDITION when outside every root or inside a forbidden one.
  absl::Status CheckPlace(const OciLayoutPolicy& policy) const;

  const std::string& dir() const { return dir_; }

 private:
  struct DirFd;
  absl::StatusOr<ResolvedManifest> ResolveDescriptor(const Descriptor& d, int depth) const;
  absl::StatusOr<std::string> ReadMetadataFile(const char* name) const;
  int fd() const;

  std::string dir_;
  std::shared_ptr<const DirFd> dir_fd_;
};

}  // namespace osgv
