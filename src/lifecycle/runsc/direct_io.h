// Whether a file system takes O_DIRECT writes, which `runsc checkpoint
// --direct` needs for its pages file: on one that refuses them (tmpfs
// before Linux 6.6, some FUSE file systems) the checkpoint would fail, and
// a failed checkpoint usually kills the sandbox (runsc.md §4).
#pragma once

#include <string>

namespace osgv {

// Writes one aligned 4 KiB block with O_DIRECT into an unnamed temporary
// file (O_TMPFILE) in `dir`: true when that works. Leaves nothing behind,
// even on a crash. False for a directory that does not exist, or a file
// system without O_TMPFILE (conservatively: no --direct there).
bool FileSystemTakesDirectIo(const std::string& dir);

}  // namespace osgv
