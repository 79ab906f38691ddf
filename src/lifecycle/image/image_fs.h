// Filesystem steps the image store relies on: bounded reads of metadata
// files, durable writes, directory fsync, and staging directories that
// clean up after themselves. Private to src/lifecycle/image.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace osgv::image_fs {

// Index, manifest and config JSON is small; this bounds what we read of it.
inline constexpr int64_t kMaxMetadataBytes = 16 << 20;

// The whole file, refused (FAILED_PRECONDITION) when larger than
// `max_bytes` so a hostile layout cannot make us slurp a huge file.
// The final component is not followed (a symlink is FAILED_PRECONDITION),
// and it must be a regular file.
absl::StatusOr<std::string> ReadFileLimited(const std::string& path, int64_t max_bytes);

// The same for `name` inside the directory `dir_fd` (openat); `display`
// names the file in messages.
absl::StatusOr<std::string> ReadFileAt(int dir_fd, const std::string& name, int64_t max_bytes,
                                       const std::string& display);

// Writes `bytes` to a new file at `path` and fsyncs it.
absl::Status WriteFileSynced(const std::string& path, const std::string& bytes);

// fsync of a directory: makes renames/creations inside it durable.
absl::Status FsyncDir(const std::string& dir);

// syncfs() on the filesystem holding `path`: one call that flushes the
// thousands of files an unpack wrote, instead of fsyncing each.
absl::Status SyncFilesystem(const std::string& path);

// Atomically renames `from` to `to`, naming both on failure.
absl::Status Rename(const std::string& from, const std::string& to);

// remove_all that also copes with read-only directories an unprivileged
// unpack may have created (image dirs with mode 0555).
absl::Status ForceRemoveAll(const std::string& path);

// A fresh, uniquely named directory under `parent` (mkdtemp), removed with
// everything in it when the object goes away.
class StagingDir {
 public:
  static absl::StatusOr<StagingDir> Create(const std::string& parent, const std::string& hint);
  StagingDir(StagingDir&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }
  StagingDir& operator=(StagingDir&&) = delete;
  ~StagingDir();

  const std::string& path() const { return path_; }

 private:
  explicit StagingDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// flock(2) on `path` (created if missing), held until the object goes
// away. Each lock opens its own file description, so it excludes other
// threads of this process as well as other processes (a driver and an
// operator's `images gc`).
class FileLock {
 public:
  static absl::StatusOr<FileLock> Acquire(const std::string& path, bool exclusive);
  FileLock(FileLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  FileLock& operator=(FileLock&&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace osgv::image_fs
