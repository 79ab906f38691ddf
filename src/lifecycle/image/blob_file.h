// One blob of an OCI layout, opened once and then read only through that
// descriptor. A file renamed or symlinked over the blob afterwards is never
// seen, and every pass over it is hashed, so bytes rewritten in place while
// we read are caught too: what is parsed or extracted is what was verified.
// Private to src/lifecycle/image.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lifecycle/image/digest.h"

namespace osgv {

class BlobFile {
 public:
  // Opens `name` inside the directory `dir_fd` with O_NOFOLLOW: a symlink,
  // or anything but a regular file, is refused (FAILED_PRECONDITION), as is
  // a size other than `size` (-1: not checked). `display` names the blob in
  // messages; `digest` is what every pass must hash to.
  static absl::StatusOr<BlobFile> OpenAt(int dir_fd, const std::string& name,
                                         const std::string& digest, int64_t size,
                                         const std::string& display);
  // The same for a path (tests, local tools).
  static absl::StatusOr<BlobFile> Open(const std::string& path, const std::string& digest);

  BlobFile(BlobFile&& other) noexcept;
  BlobFile& operator=(BlobFile&&) = delete;
  ~BlobFile();

  // Starts a pass at the first byte, with a fresh hash.
  absl::Status Rewind();
  // read(2) within the pass; every byte returned is hashed. -1 sets errno.
  ssize_t Read(void* buf, size_t len);
  // Reads what the pass has not yet, then requires that the pass saw
  // exactly the blob's bytes: FAILED_PRECONDITION naming the digest if not.
  absl::Status FinishPass();
  // One whole pass: the bytes are what the digest says, before anything
  // parses them.
  absl::Status Verify();
  // The whole blob, verified; refused when larger than `max_bytes`.
  absl::StatusOr<std::string> ReadVerified(int64_t max_bytes);

  const std::string& digest() const { return digest_; }
  const std::string& display() const { return display_; }
  int64_t size() const { return size_; }

 private:
  BlobFile(int fd, std::string digest, std::string display, int64_t size)
      : fd_(fd), digest_(std::move(digest)), display_(std::move(display)), size_(size) {}

  int fd_;
  std::string digest_;
  std::string display_;
  int64_t size_;
  std::unique_ptr<Sha256Hasher> hash_;
};

}  // namespace osgv
