// Import: an archive file (the format: sandbox_archive.h) unpacked into this
// state dir as a stopped sandbox. The archive is untrusted input.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "capabilities/config.h"
#include "lifecycle/migration/sandbox_manifest.h"
#include "lifecycle/state_layout.h"
#include "lifecycle/store/state_store.h"

namespace osgv {

struct ImportResult {
  SandboxRecord record;               // as inserted (new runsc id, phase stopped)
  SandboxArchiveManifest manifest;    // as read from the archive
  // e.g. the image is not resolvable here; setuid bits or xattrs stripped
  std::vector<std::string> warnings;
};

// Unpacks `file` into the state dir and inserts the sandbox as stopped,
// without a bundle (its first Start writes one). INVALID_ARGUMENT for an
// archive the checks in sandbox_archive.h refuse, naming the field or
// entry; ALREADY_EXISTS when the id, or the (workspace, name), is already
// there; DATA_LOSS when a checkpoint file does not match its digest; any
// failure leaves the state dir as it was. `config` is the importing
// driver's: the record is validated against it, and its checkpoint_dir
// ("" = <state>/checkpoints) receives the memory image. The caller must
// hold the state directory's lock (cli/state_dir_lock.h).
absl::StatusOr<ImportResult> ImportSandbox(StateStore* store, const StateLayout& layout,
                                           const Config& config, const std::string& file);

}  // namespace osgv
