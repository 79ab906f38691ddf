// Reading an OCI image layout directory (index.json, blobs/sha256/<hex>):
// from a tag to the manifest, config and layers to run, with every blob
// checked against its descriptor's digest and size before it is parsed.
// Private to the image store.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

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

class OciLayout {
 public:
  explicit OciLayout(std::string dir) : dir_(std::move(dir)) {}

  // tag "" selects the layout's only manifest. Unknown tag: NOT_FOUND.
  // Unsupported manifest/config/layer media types: FAILED_PRECONDITION.
  absl::StatusOr<ResolvedManifest> Resolve(const std::string& tag) const;

  std::string BlobPath(const std::string& digest) const;

  // The blob's bytes, only after they matched the descriptor (small JSON
  // blobs: manifests, indexes, configs).
  absl::StatusOr<std::string> ReadBlob(const Descriptor& d) const;

  // Hashes the blob file in place (layers, too big to hold in memory).
  absl::Status VerifyBlobFile(const Descriptor& d) const;

  const std::string& dir() const { return dir_; }

 private:
  absl::StatusOr<ResolvedManifest> ResolveDescriptor(const Descriptor& d, int depth) const;
  absl::StatusOr<std::string> CheckedBlobPath(const Descriptor& d) const;

  std::string dir_;
};

}  // namespace osgv
