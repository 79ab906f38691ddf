// Small durable-file helpers shared by the lifecycle code.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace osgv {

// Writes to "<path>.tmp", fsyncs it, renames over `path`, fsyncs the parent
// directory: after OK the content survives a crash.
absl::Status WriteFileAtomic(const std::string& path, const std::string& content, int mode);
// Same rename-into-place, without the fsyncs: for files that are rebuilt
// from durable state after a crash (a bundle's config.json, monitor.json),
// where a torn write is impossible but durability buys nothing.
absl::Status WriteFileReplace(const std::string& path, const std::string& content, int mode);
// NOT_FOUND when absent.
absl::StatusOr<std::string> ReadFile(const std::string& path);
absl::Status FsyncDir(const std::string& dir);
// mkdir -p with `mode` for the directories it creates.
absl::Status MakeDirs(const std::string& path, int mode);
// rm -rf that never crosses into another filesystem (a mount we missed).
absl::Status RemoveTree(const std::string& path);
// "<what> <path>: <strerror(errno)>" for the call that just failed:
// NOT_FOUND for ENOENT, INTERNAL otherwise. Call it before anything else
// can change errno.
absl::Status ErrnoStatus(const std::string& what, const std::string& path);

}  // namespace osgv
