// What `runsc restore` does with a gated image directory, as far as the
// gate can tell (restore_gate.h): it opens pages.img and pages_meta.img by
// name and reads the metadata as a stream, exactly as many bytes as the
// image's file holds, and only then can it finish. A stream that ends
// short is runsc's "unexpected EOF".
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace osgv::testing {

// Reads up to `n` bytes from `fd` (blocking), stopping early only at EOF.
inline std::string ReadUpTo(int fd, size_t n) {
  std::string out;
  char buf[65536];
  while (out.size() < n) {
    ssize_t got = read(fd, buf, std::min(sizeof(buf), n - out.size()));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    out.append(buf, static_cast<size_t>(got));
  }
  return out;
}

// OK when all `meta_size` bytes of `dir`/pages_meta.img arrived; `got`
// (when given) receives what did.
inline absl::Status ReadLikeRunscRestore(const std::string& dir, size_t meta_size,
                                         std::string* got = nullptr) {
  int pages = open((dir + "/pages.img").c_str(), O_RDONLY | O_CLOEXEC);
  if (pages < 0) return absl::NotFoundError(absl::StrCat("open pages.img: ", strerror(errno)));
  close(pages);
  int meta = open((dir + "/pages_meta.img").c_str(), O_RDONLY | O_CLOEXEC);
  if (meta < 0) return absl::NotFoundError(absl::StrCat("open pages_meta.img: ", strerror(errno)));
  std::string data = ReadUpTo(meta, meta_size);
  close(meta);
  if (got != nullptr) *got = data;
  if (data.size() < meta_size) return absl::DataLossError("restoring container: unexpected EOF");
  return absl::OkStatus();
}

}  // namespace osgv::testing
