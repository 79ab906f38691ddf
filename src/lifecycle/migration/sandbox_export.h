// Export: a stopped sandbox of this state dir written to one archive file
// (the format: sandbox_archive.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "lifecycle/migration/sandbox_manifest.h"
#include "lifecycle/state_layout.h"
#include "lifecycle/store/state_store.h"

namespace osgv {

// The manifest of a record as it would be exported (host fields cleared).
// FAILED_PRECONDITION naming the sandbox and its phase unless it is
// stopped ("stop it first"); DATA_LOSS when its checkpoint record is
// unreadable.
absl::StatusOr<SandboxArchiveManifest> ManifestForExport(const SandboxRecord& record);

struct ExportResult {
  SandboxArchiveManifest manifest;
  uint64_t archive_bytes = 0;
  // e.g. a bind mount of a per-sandbox host path outside the sandbox dir,
  // which does not travel.
  std::vector<std::string> warnings;
};

// Writes the stopped sandbox `id_or_name` (an id, or a name unique across
// workspaces) to `file`, via a new `file`.tmp and a rename that never
// replaces a file. Only reads the state dir, so it may run while a driver
// serves it; if the sandbox leaves the stopped phase while the archive is
// being written, export fails and no file is left. ALREADY_EXISTS when
// `file` or `file`.tmp exists (or `file` appears meanwhile).
absl::StatusOr<ExportResult> ExportSandbox(StateStore* store, const StateLayout& layout,
                                           const std::string& id_or_name,
                                           const std::string& file);

}  // namespace osgv
