// The names of a sandbox archive's entries (sandbox_archive.h lists them in
// order), shared by the code that writes them, the code that reads them and
// the manifest's checks.
#pragma once

#include <cstddef>

namespace osgv {

inline constexpr char kBundleConfigEntry[] = "bundle/config.json";
inline constexpr char kUpperEntry[] = "upper";
inline constexpr char kCheckpointEntry[] = "checkpoint";
inline constexpr char kFilesEntry[] = "files";

// The block an entry's bytes are streamed in (a checkpoint file may be
// gigabytes; it never has to fit in memory).
inline constexpr size_t kArchiveCopyBuffer = 1 << 20;

}  // namespace osgv
