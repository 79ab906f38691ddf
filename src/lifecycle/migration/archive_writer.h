// Writes a zstd-compressed pax tar, entry by entry: the sandbox archive's
// writing half (sandbox_export.cc decides what goes in).
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "lifecycle/archive_handles.h"

namespace osgv {

class ArchiveWriter {
 public:
  // Starts the archive on `fd`, which the caller opened and closes.
  absl::Status Open(int fd);

  // A regular file with contents from memory.
  absl::Status AddBytes(const std::string& name, const std::string& data, int mode);

  // A regular file streamed from disk; `*digest` receives its sha256.
  // FAILED_PRECONDITION when `path` is not a regular file or changes size
  // while it is read.
  absl::Status AddFile(const std::string& name, const std::string& path, std::string* digest);

  // The directory tree at `dir` as `prefix`/..., exactly as it is on disk:
  // numeric owners, modes, nanosecond times, xattrs, ACLs, hard links,
  // holes, device nodes (overlay whiteouts). Never follows symlinks or
  // crosses into another filesystem.
  absl::Status AddTree(const std::string& prefix, const std::string& dir);

  // Writes the end of the archive; the caller then fsyncs the file.
  absl::Status Close();

 private:
  // Copies the current entry's data blocks from `disk` (reading `path`)
  // into the archive as `name`.
  absl::Status CopyBlocks(archive* disk, const std::string& path, const std::string& name);
  std::string Error() { return ArchiveError(a_.get()); }
  absl::Status Failed(const std::string& name);

  WriteArchive a_;
  LinkResolver resolver_;
  std::vector<char> zeros_;  // for holes, allocated at the first one
};

}  // namespace osgv
