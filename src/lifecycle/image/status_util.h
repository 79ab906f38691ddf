// Status helpers for src/lifecycle/image.
#pragma once

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace osgv {

// Adds context to a status on its way up without changing its code, so the
// message names what failed ("image 'oci:/x:tag': layer sha256:...: ...").
inline absl::Status Prefixed(absl::string_view prefix, const absl::Status& status) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(prefix, ": ", status.message()));
}

// "<what> <path>: <strerror>" with the code errno maps to (ENOENT ->
// NOT_FOUND, ...). Takes `err` by value and builds the message inside, so
// nothing can clobber errno between the failed call and reading it.
inline absl::Status PosixError(int err, absl::string_view what, absl::string_view path) {
  return absl::ErrnoToStatus(err, absl::StrCat(what, " ", path));
}

}  // namespace osgv
