#include "lifecycle/image/image_fs.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "lifecycle/image/status_util.h"
#include "lifecycle/unique_fd.h"

namespace osgv::image_fs {
namespace {

namespace fs = std::filesystem;

// Opens `path` read-only (directories too) for fsync/syncfs.
absl::Status WithFd(const std::string& path, int extra_flags, int (*sync)(int),
                    absl::string_view what) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | extra_flags);
  if (fd < 0) return PosixError(errno, "cannot open", path);
  absl::Status status;
  if (sync(fd) != 0) status = PosixError(errno, what, path);
  ::close(fd);
  return status;
}

}  // namespace

absl::StatusOr<std::string> ReadFileAt(int dir_fd, const std::string& name, int64_t max_bytes,
                                       const std::string& display) {
  int fd = ::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ELOOP) {
      return absl::FailedPreconditionError(
          absl::StrCat(display, " is a symlink, which is not followed"));
    }
    return PosixError(errno, "cannot open", display);
  }
  UniqueFd closer(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0) return PosixError(errno, "cannot stat", display);
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(display, " is not a regular file"));
  }
  if (st.st_size > max_bytes) {
    return absl::FailedPreconditionError(
        absl::StrCat(display, " is ", st.st_size, " bytes; the limit is ", max_bytes));
  }
  std::string bytes;
  char buf[64 << 10];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return PosixError(errno, "cannot read", display);
    if (n == 0) return bytes;
    bytes.append(buf, static_cast<size_t>(n));
    if (static_cast<int64_t>(bytes.size()) > max_bytes) {
      return absl::FailedPreconditionError(
          absl::StrCat(display, " grew past ", max_bytes, " bytes while it was read"));
    }
  }
}

absl::StatusOr<std::string> ReadFileLimited(const std::string& path, int64_t max_bytes) {
  return ReadFileAt(AT_FDCWD, path, max_bytes, path);
}

absl::Status WriteFileSynced(const std::string& path, const std::string& bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return PosixError(errno, "cannot create", path);
  size_t done = 0;
  absl::Status status;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      status = PosixError(errno, "cannot write", path);
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (status.ok() && ::fsync(fd) != 0) status = PosixError(errno, "cannot fsync", path);
  ::close(fd);
  return status;
}

absl::Status FsyncDir(const std::string& dir) {
  return WithFd(dir, O_DIRECTORY, ::fsync, "cannot fsync");
}

absl::Status SyncFilesystem(const std::string& path) {
  return WithFd(path, 0, ::syncfs, "cannot syncfs");
}

absl::Status Rename(const std::string& from, const std::string& to) {
  if (std::rename(from.c_str(), to.c_str()) != 0) {
    int err = errno;
    return absl::ErrnoToStatus(err, absl::StrCat("cannot rename ", from, " to ", to));
  }
  return absl::OkStatus();
}

absl::Status ForceRemoveAll(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (!ec) return absl::OkStatus();
  // Deleting entries needs write permission on their directory, which an
  // unprivileged unpack may have set read-only. Open every directory up
  // (before the iterator descends into it, so mode 0000 ones can be listed;
  // symlinks are never followed) and try once more.
  ::chmod(path.c_str(), 0700);
  ec.clear();
  for (fs::recursive_directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    if (!it->is_symlink(type_ec) && it->is_directory(type_ec)) ::chmod(it->path().c_str(), 0700);
  }
  ec.clear();
  fs::remove_all(path, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot remove ", path, ": ", ec.message()));
  return absl::OkStatus();
}

absl::StatusOr<StagingDir> StagingDir::Create(const std::string& parent, const std::string& hint) {
  std::string tmpl = absl::StrCat(parent, "/", hint, "-XXXXXX");
  if (::mkdtemp(tmpl.data()) == nullptr)
    return PosixError(errno, "cannot create staging dir in", parent);
  return StagingDir(tmpl);
}

StagingDir::~StagingDir() {
  if (!path_.empty()) (void)ForceRemoveAll(path_);
}

absl::StatusOr<FileLock> FileLock::Acquire(const std::string& path, bool exclusive) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return PosixError(errno, "cannot open lock file", path);
  int rc;
  do {
    rc = ::flock(fd, exclusive ? LOCK_EX : LOCK_SH);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    int err = errno;
    ::close(fd);
    return PosixError(err, "cannot lock", path);
  }
  return FileLock(fd);
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace osgv::image_fs
