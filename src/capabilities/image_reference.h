// Image references as the gateway sends them (contract §1.2): registry
// references in the Docker/containers-image grammar, and local OCI layouts
// as oci:/abs/path[:tag].
//
// Pure string work, no I/O, so request validation can reject a malformed
// reference before anything is created. Lives in capabilities (not
// lifecycle/image) because validation may not depend on lifecycle.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace osgv {

struct ImageReference {
  enum class Transport { kOciLayout, kRegistry };
  Transport transport = Transport::kOciLayout;

  // kOciLayout
  std::string layout_dir;  // absolute, normalized
  // Both: the tag ("" = the layout's only manifest; a registry reference
  // without tag and digest gets "latest").
  std::string tag;
  // kRegistry
  std::string registry;    // "docker.io", "localhost:5000", "ghcr.io"
  std::string repository;  // "library/busybox"
  std::string digest;      // "sha256:<64 hex>" or ""

  bool is_registry() const { return transport == Transport::kRegistry; }
  // The fully qualified form: "docker.io/library/busybox:latest",
  // "r:5000/x@sha256:..." (a digest wins over a tag: it is what is pulled),
  // or "oci:/dir[:tag]". Equal references have equal canonical forms.
  std::string Canonical() const;
};

// INVALID_ARGUMENT "invalid image reference '<ref>': <why>" when malformed.
// The docker.io rule: a first path component without '.' or ':' that is not
// "localhost" (and all lowercase) is a Docker Hub repository, and a
// single-component Docker Hub name is under "library/".
absl::StatusOr<ImageReference> ParseImageReference(const std::string& ref);

}  // namespace osgv
