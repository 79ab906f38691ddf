// Reading a sandbox archive: opening it, walking its entries, reading the
// small ones and the manifest. Every error is the archive's fault
// (INVALID_ARGUMENT naming the file or entry) unless the file is missing.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "lifecycle/archive_handles.h"
#include "lifecycle/migration/sandbox_manifest.h"

namespace osgv {

// Small entries are read into memory; bound them so a hostile archive
// cannot make us allocate without limit.
inline constexpr int64_t kMaxSmallArchiveEntry = 16 << 20;

// A tar in any compression libarchive knows. NOT_FOUND when `file` is
// missing, INVALID_ARGUMENT when it cannot be opened as an archive.
absl::StatusOr<ReadArchive> OpenSandboxArchive(const std::string& file);

// The next header; nullptr at the end.
absl::StatusOr<archive_entry*> NextArchiveHeader(archive* a, const std::string& file);

// The current entry's bytes: a regular file of at most kMaxSmallArchiveEntry.
absl::StatusOr<std::string> ReadSmallEntry(archive* a, archive_entry* entry,
                                           const std::string& name);

// The first entry, which must be the manifest, parsed.
absl::StatusOr<SandboxArchiveManifest> ReadManifestEntry(archive* a, const std::string& file);

}  // namespace osgv
