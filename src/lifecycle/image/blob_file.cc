#include "lifecycle/image/blob_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "lifecycle/image/status_util.h"

namespace osgv {
namespace {

constexpr size_t kChunk = 256 << 10;

absl::Status OpenError(int err, const std::string& digest, const std::string& display) {
  if (err == ELOOP) {
    return absl::FailedPreconditionError(absl::StrCat(
        "blob ", digest, " (", display, ") is a symlink; blobs must be regular files"));
  }
  if (err == ENOENT) {
    return absl::FailedPreconditionError(
        absl::StrCat("blob ", digest, " is missing (", display, ")"));
  }
  return Prefixed(absl::StrCat("blob ", digest), PosixError(err, "cannot open", display));
}

}  // namespace

absl::StatusOr<BlobFile> BlobFile::OpenAt(int dir_fd, const std::string& name,
                                          const std::string& digest, int64_t size,
                                          const std::string& display) {
  // O_NONBLOCK: a FIFO planted as a blob must not hang the open.
  int fd = ::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return OpenError(errno, digest, display);
  BlobFile blob(fd, digest, display, size);
  blob.hash_ = std::make_unique<Sha256Hasher>();
  struct stat st;
  if (::fstat(fd, &st) != 0) return PosixError(errno, "cannot stat", display);
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("blob ", digest, " (", display, ") is not a regular file"));
  }
  if (size >= 0 && st.st_size != size) {
    return absl::FailedPreconditionError(absl::StrCat("blob ", digest, " is ", st.st_size,
                                                      " bytes but its descriptor says ", size));
  }
  blob.size_ = st.st_size;
  return blob;
}

absl::StatusOr<BlobFile> BlobFile::Open(const std::string& path, const std::string& digest) {
  return OpenAt(AT_FDCWD, path, digest, -1, path);
}

BlobFile::BlobFile(BlobFile&& other) noexcept
    : fd_(other.fd_),
      digest_(std::move(other.digest_)),
      display_(std::move(other.display_)),
      size_(other.size_),
      hash_(std::move(other.hash_)) {
  other.fd_ = -1;
}

BlobFile::~BlobFile() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status BlobFile::Rewind() {
  // A fresh hash even if the seek fails: a pass that then goes on from the
  // wrong offset cannot match the digest.
  hash_ = std::make_unique<Sha256Hasher>();
  if (::lseek(fd_, 0, SEEK_SET) != 0) return PosixError(errno, "cannot rewind", display_);
  return absl::OkStatus();
}

ssize_t BlobFile::Read(void* buf, size_t len) {
  for (;;) {
    ssize_t n = ::read(fd_, buf, len);
    if (n < 0 && errno == EINTR) continue;
    if (n > 0) hash_->Update(buf, static_cast<size_t>(n));
    return n;
  }
}

absl::Status BlobFile::FinishPass() {
  std::unique_ptr<char[]> buf(new char[kChunk]);
  for (;;) {
    ssize_t n = Read(buf.get(), kChunk);
    if (n < 0) return PosixError(errno, "cannot read", display_);
    if (n == 0) break;
  }
  absl::StatusOr<std::string> actual = hash_->Finish();
  if (!actual.ok()) return actual.status();
  if (*actual != digest_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "blob ", digest_, " does not match its digest (content hashes to ", *actual, ")"));
  }
  return absl::OkStatus();
}

absl::Status BlobFile::Verify() {
  if (absl::Status s = Rewind(); !s.ok()) return s;
  return FinishPass();
}

absl::StatusOr<std::string> BlobFile::ReadVerified(int64_t max_bytes) {
  if (size_ > max_bytes) {
    return absl::FailedPreconditionError(absl::StrCat(
        "blob ", digest_, " is ", size_, " bytes; the limit is ", max_bytes));
  }
  if (absl::Status s = Rewind(); !s.ok()) return s;
  // One byte more than fstat said, so a blob that grew since is caught.
  std::string bytes(static_cast<size_t>(size_) + 1, '\0');
  size_t have = 0;
  while (have < bytes.size()) {
    ssize_t n = Read(bytes.data() + have, bytes.size() - have);
    if (n < 0) return PosixError(errno, "cannot read", display_);
    if (n == 0) break;
    have += static_cast<size_t>(n);
  }
  if (have != static_cast<size_t>(size_)) {
    return absl::FailedPreconditionError(
        absl::StrCat("blob ", digest_, " changed size while it was read"));
  }
  bytes.resize(have);
  if (absl::Status s = FinishPass(); !s.ok()) return s;
  return bytes;
}

}  // namespace osgv
