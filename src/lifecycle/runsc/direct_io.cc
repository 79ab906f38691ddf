#include "lifecycle/runsc/direct_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <memory>

namespace osgv {

bool FileSystemTakesDirectIo(const std::string& dir) {
  int fd = open(dir.c_str(), O_TMPFILE | O_WRONLY | O_DIRECT | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  // 4 KiB alignment covers devices with 512-byte and 4 KiB sectors. Some
  // file systems accept O_DIRECT at open and refuse the write: write one.
  constexpr size_t kBlock = 4096;
  std::unique_ptr<void, decltype(&free)> block(aligned_alloc(kBlock, kBlock), &free);
  bool ok = false;
  if (block) {
    memset(block.get(), 0, kBlock);
    ok = pwrite(fd, block.get(), kBlock, 0) == static_cast<ssize_t>(kBlock);
  }
  close(fd);
  return ok;
}

}  // namespace osgv
