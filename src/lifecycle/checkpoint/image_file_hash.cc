#include "lifecycle/checkpoint/image_file_hash.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lifecycle/checkpoint/fast_check.h"
#include "lifecycle/image/digest.h"
#include "lifecycle/runsc/direct_io.h"
#include "lifecycle/unique_fd.h"

namespace osgv {
namespace {

constexpr size_t kChunk = 4 << 20;  // aligned for O_DIRECT; one read request
constexpr int kSlots = 6;           // chunks read ahead of the hash, at most
constexpr int kReaders = 2;         // requests in flight

absl::Status ReadError(const std::string& path) {
  return absl::InternalError(absl::StrCat("cannot read ", path, ": ", strerror(errno)));
}

// Reads chunk k into slot k % kSlots once the sink has finished with the
// chunk that slot held before; the caller's sink gets chunks strictly in
// order.
class DirectReader {
 public:
  DirectReader(const std::string& path, int fd, uint64_t size)
      : path_(path), fd_(fd), chunks_(static_cast<int64_t>((size + kChunk - 1) / kChunk)) {}

  absl::Status Run(const ImageChunkSink& sink) {
    for (int s = 0; s < kSlots; ++s) {
      buffers_.emplace_back(static_cast<char*>(aligned_alloc(4096, kChunk)), &free);
      if (!buffers_.back()) return absl::ResourceExhaustedError("no memory to hash an image");
    }
    std::vector<std::thread> readers;
    for (int r = 0; r < kReaders; ++r) readers.emplace_back([this, r] { ReadChunks(r); });
    for (int64_t k = 0; k < chunks_; ++k) {
      int s = static_cast<int>(k % kSlots);
      size_t n;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return !error_.ok() || slot_chunk_[s] == k; });
        if (!error_.ok()) break;
        n = slot_bytes_[s];
      }
      sink(buffers_[s].get(), n);
      {
        std::lock_guard<std::mutex> lock(mu_);
        consumed_ = k + 1;
      }
      cv_.notify_all();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;  // readers waiting for a slot after an error
    }
    cv_.notify_all();
    for (auto& t : readers) t.join();
    return error_;
  }

 private:
  void ReadChunks(int reader) {
    for (int64_t k = reader; k < chunks_; k += kReaders) {
      int s = static_cast<int>(k % kSlots);
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || !error_.ok() || consumed_ > k - kSlots; });
        if (stop_ || !error_.ok()) return;
      }
      absl::StatusOr<size_t> n = ReadChunk(k, buffers_[s].get());
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (!n.ok()) {
          if (error_.ok()) error_ = n.status();
        } else {
          slot_chunk_[s] = k;
          slot_bytes_[s] = *n;
        }
      }
      cv_.notify_all();
      if (!n.ok()) return;
    }
  }

  // The whole chunk, or up to the end of the file for the last one.
  absl::StatusOr<size_t> ReadChunk(int64_t k, char* buf) {
    size_t got = 0;
    off_t offset = static_cast<off_t>(k) * static_cast<off_t>(kChunk);
    while (got < kChunk) {
      ssize_t n = pread(fd_, buf + got, kChunk - got, offset + static_cast<off_t>(got));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ReadError(path_);
      if (n == 0) break;
      got += static_cast<size_t>(n);
      // O_DIRECT continues only from an aligned offset; a short read that
      // is not aligned is the end of the file.
      if (got % 4096 != 0) break;
    }
    if (got < kChunk && k + 1 < chunks_) {
      return absl::InternalError(absl::StrCat("read ", path_, ": the file shrank while hashed"));
    }
    return got;
  }

  const std::string& path_;
  const int fd_;
  const int64_t chunks_;
  std::vector<std::unique_ptr<char, decltype(&free)>> buffers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int64_t> slot_chunk_ = std::vector<int64_t>(kSlots, -1);  // chunk each slot holds
  std::vector<size_t> slot_bytes_ = std::vector<size_t>(kSlots, 0);
  int64_t consumed_ = 0;
  bool stop_ = false;
  absl::Status error_;
};

// Through the page cache, in the order of the file.
absl::Status ReadCached(const std::string& path, const ImageChunkSink& sink) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ReadError(path);
  constexpr size_t kCachedChunk = 256 << 10;
  std::unique_ptr<char[]> buf(new char[kCachedChunk]);
  for (;;) {
    ssize_t n = read(fd.get(), buf.get(), kCachedChunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ReadError(path);
    if (n == 0) return absl::OkStatus();
    sink(buf.get(), static_cast<size_t>(n));
  }
}

}  // namespace

absl::Status ReadImageFile(const std::string& path, const ImageChunkSink& sink) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return ReadError(path);
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (!S_ISREG(st.st_mode) || size < kDirectHashMinBytes) return ReadCached(path, sink);
  {
    UniqueFd plain(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (plain.get() < 0) return ReadError(path);
    if (MostlyInPageCache(plain.get(), size)) return ReadCached(path, sink);
  }
  return ReadImageFileDirect(path, sink);
}

absl::Status ReadImageFileDirect(const std::string& path, const ImageChunkSink& sink) {
  UniqueFd direct(open(path.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC));
  // A file system without O_DIRECT: the page cache it is.
  if (direct.get() < 0) return ReadCached(path, sink);
  struct stat st;
  if (fstat(direct.get(), &st) != 0) return ReadError(path);
  return DirectReader(path, direct.get(), static_cast<uint64_t>(st.st_size)).Run(sink);
}

absl::StatusOr<std::string> Sha256ImageFile(const std::string& path) {
  Sha256Hasher hash;
  auto st = ReadImageFile(path, [&](const char* p, size_t n) { hash.Update(p, n); });
  if (!st.ok()) return st;
  return hash.Finish();
}

absl::StatusOr<std::string> Sha256FileDirect(const std::string& path) {
  Sha256Hasher hash;
  auto st = ReadImageFileDirect(path, [&](const char* p, size_t n) { hash.Update(p, n); });
  if (!st.ok()) return st;
  return hash.Finish();
}

absl::StatusOr<ImageFileDigests> DigestImageFile(const std::string& path) {
  Sha256Hasher hash;
  FastCheck check;
  auto st = ReadImageFile(path, [&](const char* p, size_t n) {
    hash.Update(p, n);
    check.Update(p, n);
  });
  if (!st.ok()) return st;
  auto sha = hash.Finish();
  if (!sha.ok()) return sha.status();
  return ImageFileDigests{*sha, check.Finish()};
}

absl::StatusOr<std::string> FastCheckImageFile(const std::string& path) {
  FastCheck check;
  auto st = ReadImageFile(path, [&](const char* p, size_t n) { check.Update(p, n); });
  if (!st.ok()) return st;
  return check.Finish();
}

}  // namespace osgv
