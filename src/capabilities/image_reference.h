// Image references as the gateway sends them (contract §1.2): registry
// references in the Docker/containers-image grammar, and local OCI layouts
// as oci:/abs/path[:tag].
//
// Pure string work, no I/O, so request validation can reject a malformed
// reference before anything is created. Lives in capabilities (not
// lifecycle/image) because validation may not depend on lifecycle.
#pragma once

#include <string>
#include <vector>

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

// Where the driver reads oci: layouts that a request names. The driver runs
// as root, so without this a tenant could make it read any host directory,
// including its own writable layer under state_dir.
struct OciLayoutPolicy {
  // images.oci_roots (and the directory of an oci: default_image).
  std::vector<std::string> roots;
  // state_dir and checkpoint_dir: refused even when a root covers them.
  std::vector<std::string> forbidden;
};

// True when `path` is `dir` or below it, comparing whole components of the
// lexically normalized absolute paths: /srv/img holds /srv/img/a, not
// /srv/images2.
bool PathIsWithin(const std::string& path, const std::string& dir);

// OK when `layout_dir` is under a root and under no forbidden directory;
// otherwise FAILED_PRECONDITION saying which, and naming images.oci_roots.
// Pure: compares strings only, so the caller decides whether they are the
// request's paths or what the filesystem resolved them to.
absl::Status CheckOciLayoutDir(const std::string& layout_dir, const OciLayoutPolicy& policy);

}  // namespace osgv
