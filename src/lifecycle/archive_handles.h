// Owning handles for libarchive's objects, its error text, and the block
// copy every extraction does. Shared by everything that reads or writes tar
// streams: the image layer unpacker (image/layer_unpack.cc) and the sandbox
// archive (migration/).
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include <memory>
#include <string>

namespace osgv {

struct ArchiveReadFree {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct ArchiveWriteFree {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct ArchiveEntryFree {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};
struct LinkResolverFree {
  void operator()(archive_entry_linkresolver* r) const { archive_entry_linkresolver_free(r); }
};

// From archive_read_new or archive_read_disk_new.
using ReadArchive = std::unique_ptr<archive, ArchiveReadFree>;
// From archive_write_new or archive_write_disk_new.
using WriteArchive = std::unique_ptr<archive, ArchiveWriteFree>;
using ArchiveEntry = std::unique_ptr<archive_entry, ArchiveEntryFree>;
using LinkResolver = std::unique_ptr<archive_entry_linkresolver, LinkResolverFree>;

// The handle's last error; libarchive may have none to give.
inline std::string ArchiveError(archive* a) {
  const char* msg = archive_error_string(a);
  return msg ? msg : "unknown libarchive error";
}

// Which side of CopyEntryData failed; each caller words its own error
// (whose fault it is differs: a layer's, an archive's, the disk's).
enum class EntryCopy { kDone, kReadFailed, kWriteFailed };

// Copies the data of the entry `in` is positioned on to `disk` (from
// archive_write_disk_new, its header already written), block by block at
// their offsets, so holes stay holes.
inline EntryCopy CopyEntryData(archive* in, archive* disk) {
  for (;;) {
    const void* buf = nullptr;
    size_t size = 0;
    la_int64_t offset = 0;
    int r = archive_read_data_block(in, &buf, &size, &offset);
    if (r == ARCHIVE_EOF) return EntryCopy::kDone;
    if (r < ARCHIVE_WARN) return EntryCopy::kReadFailed;
    if (archive_write_data_block(disk, buf, size, offset) < ARCHIVE_WARN) {
      return EntryCopy::kWriteFailed;
    }
  }
}

}  // namespace osgv
