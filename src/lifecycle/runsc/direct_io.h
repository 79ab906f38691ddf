// O_DIRECT decisions for memory images: whether a file system takes
// O_DIRECT writes, which `runsc checkpoint --direct` needs for its pages
// file (on one that refuses them, tmpfs before Linux 6.6 or some FUSE file
// systems, the checkpoint would fail, and a failed checkpoint usually kills
// the sandbox: runsc.md §4), and whether a file is in the page cache, which
// decides how it is read back.
#pragma once

#include <cstdint>
#include <string>

namespace osgv {

// Writes one aligned 4 KiB block with O_DIRECT into an unnamed temporary
// file (O_TMPFILE) in `dir`: true when that works. Leaves nothing behind,
// even on a crash. False for a directory that does not exist, or a file
// system without O_TMPFILE (conservatively: no --direct there).
bool FileSystemTakesDirectIo(const std::string& dir);

// Whether at least half of the file's pages are in the page cache (by
// mincore on a mapping of it): then the cache is the faster source, and an
// O_DIRECT read would first have to write any dirty pages back. True when
// it cannot tell, the page cache being the always-correct way to read.
bool MostlyInPageCache(int fd, uint64_t size);
bool FileMostlyInPageCache(const std::string& path);

}  // namespace osgv
