// SHA-256 (and FastCheck) of a memory image file, read from wherever its
// bytes are.
//
// A large uncompressed image that runsc wrote with --direct is on disk and
// not in the page cache. Reading it back through the cache costs this
// kind of host more than the disk itself (filling 1 GiB of page cache took
// 2.3 s of system time on the test VM, a direct read 0.9 s), and the hash
// would wait for each read. So such a file is read with O_DIRECT by two
// reader threads, several requests in flight, while the caller's thread
// hashes the chunks in order: the time is that of the slower of the disk
// and SHA-256, not their sum. A file that is small or mostly cached is
// hashed from the page cache (Sha256File).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"

namespace osgv {

// Gets the file's bytes in order, chunk by chunk.
using ImageChunkSink = std::function<void(const char* data, size_t size)>;

// Reads the whole file into `sink`, with O_DIRECT or through the cache as
// described above.
absl::Status ReadImageFile(const std::string& path, const ImageChunkSink& sink);
// The O_DIRECT path alone, whatever the cache holds (the page cache only
// where the file system has no O_DIRECT): for a caller that knows the file
// is not cached, and for tests.
absl::Status ReadImageFileDirect(const std::string& path, const ImageChunkSink& sink);

// "sha256:<64 lowercase hex>" of the file's bytes.
absl::StatusOr<std::string> Sha256ImageFile(const std::string& path);
absl::StatusOr<std::string> Sha256FileDirect(const std::string& path);

// Both of a file's checks from one read (the seal): its SHA-256 and its
// FastCheck (fast_check.h).
struct ImageFileDigests {
  std::string sha256;
  std::string fast;
};
absl::StatusOr<ImageFileDigests> DigestImageFile(const std::string& path);

// The FastCheck alone (Start's verification).
absl::StatusOr<std::string> FastCheckImageFile(const std::string& path);

// Files smaller than this are always hashed through the page cache.
inline constexpr uint64_t kDirectHashMinBytes = 32ull << 20;

}  // namespace osgv
