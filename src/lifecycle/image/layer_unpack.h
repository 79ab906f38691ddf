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
#include "lifecycle/image/blob_file.h"

namespace osgv {

// Reads the layer only through `layer`'s descriptor, hashing every pass
// (BlobFile::FinishPass): bytes that changed since the caller verified
// them fail the apply, and the caller discards the target.
absl::Status ApplyLayer(BlobFile& layer, const std::string& target_dir);

}  // namespace osgv
