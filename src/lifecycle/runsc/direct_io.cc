#include "lifecycle/runsc/direct_io.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

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

bool MostlyInPageCache(int fd, uint64_t size) {
  if (size == 0) return true;
  void* map = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) return true;
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> resident((size + page - 1) / page);
  bool cached = true;
  if (mincore(map, size, resident.data()) == 0) {
    size_t in = 0;
    for (unsigned char r : resident) in += r & 1;
    cached = in * 2 >= resident.size();
  }
  munmap(map, size);
  return cached;
}

bool FileMostlyInPageCache(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return true;
  struct stat st;
  bool cached = fstat(fd, &st) != 0 || MostlyInPageCache(fd, static_cast<uint64_t>(st.st_size));
  close(fd);
  return cached;
}

}  // namespace osgv
