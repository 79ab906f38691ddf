// Applies one OCI layer tarball (plain, gzip or zstd, auto-detected by
// libarchive) onto a directory, honouring OCI whiteouts:
//   .wh.<name>        deletes <name> from lower layers
//   .wh..wh..opq      makes the containing directory opaque (its lower-layer
//                     contents are removed before this layer's entries land)
// Entries that would escape the target ("..", symlinked parents, hardlinks
// to outside) are rejected; absolute names are taken relative to the target. Device nodes are skipped (runsc gives the sandbox
// its own /dev). Ownership is applied only when running as root.
#pragma once

#include <string>

#include "absl/status/status.h"

namespace osgv {

absl::Status ApplyLayer(const std::string& layer_path, const std::string& target_dir);

}  // namespace osgv
