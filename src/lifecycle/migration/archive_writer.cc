#include "lifecycle/migration/archive_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lifecycle/fs_util.h"
#include "lifecycle/image/digest.h"
#include "lifecycle/migration/archive_entries.h"
#include "lifecycle/unique_fd.h"
#include "lifecycle/wall_clock.h"

namespace osgv {

absl::Status ArchiveWriter::Open(int fd) {
  a_.reset(archive_write_new());
  if (!a_) return absl::InternalError("archive_write_new failed");
  // Full pax (not "restricted"): every entry gets an extended header, so
  // nanosecond times survive even where plain ustar would have sufficed.
  if (archive_write_set_format_pax(a_.get()) != ARCHIVE_OK ||
      archive_write_add_filter_zstd(a_.get()) != ARCHIVE_OK) {
    return absl::InternalError(absl::StrCat("cannot set up a zstd pax archive: ", Error()));
  }
  // The default 10 KiB tar blocks would pad the file; write what we have.
  archive_write_set_bytes_in_last_block(a_.get(), 1);
  if (archive_write_open_fd(a_.get(), fd) != ARCHIVE_OK) {
    return absl::InternalError(absl::StrCat("cannot open the archive: ", Error()));
  }
  resolver_.reset(archive_entry_linkresolver_new());
  if (!resolver_) return absl::InternalError("archive_entry_linkresolver_new failed");
  archive_entry_linkresolver_set_strategy(resolver_.get(), archive_format(a_.get()));
  return absl::OkStatus();
}

absl::Status ArchiveWriter::AddBytes(const std::string& name, const std::string& data, int mode) {
  ArchiveEntry e(archive_entry_new());
  archive_entry_set_pathname(e.get(), name.c_str());
  archive_entry_set_filetype(e.get(), AE_IFREG);
  archive_entry_set_perm(e.get(), mode);
  archive_entry_set_size(e.get(), static_cast<la_int64_t>(data.size()));
  archive_entry_set_mtime(e.get(), UnixNowMs() / 1000, 0);
  if (archive_write_header(a_.get(), e.get()) != ARCHIVE_OK) return Failed(name);
  if (!data.empty() && archive_write_data(a_.get(), data.data(), data.size()) < 0) {
    return Failed(name);
  }
  return absl::OkStatus();
}

absl::Status ArchiveWriter::AddFile(const std::string& name, const std::string& path,
                                    std::string* digest) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open", path);
  UniqueFd closer(fd);
  struct stat st;
  if (fstat(fd, &st) != 0) return ErrnoStatus("stat", path);
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(path, " is not a regular file"));
  }
  ArchiveEntry e(archive_entry_new());
  archive_entry_set_pathname(e.get(), name.c_str());
  archive_entry_set_filetype(e.get(), AE_IFREG);
  archive_entry_set_perm(e.get(), st.st_mode & 07777);
  archive_entry_set_size(e.get(), st.st_size);
  archive_entry_set_mtime(e.get(), st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
  if (archive_write_header(a_.get(), e.get()) != ARCHIVE_OK) return Failed(name);
  std::vector<char> buf(kArchiveCopyBuffer);
  Sha256Hasher hash;
  int64_t total = 0;
  for (;;) {
    ssize_t n = read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("read", path);
    if (n == 0) break;
    hash.Update(buf.data(), static_cast<size_t>(n));
    if (archive_write_data(a_.get(), buf.data(), static_cast<size_t>(n)) < 0) return Failed(name);
    total += n;
  }
  if (total != st.st_size) {
    return absl::FailedPreconditionError(absl::StrCat(path, " changed size while it was read"));
  }
  auto sum = hash.Finish();
  if (!sum.ok()) return sum.status();
  *digest = *sum;
  return absl::OkStatus();
}

absl::Status ArchiveWriter::AddTree(const std::string& prefix, const std::string& dir) {
  ReadArchive disk(archive_read_disk_new());
  if (!disk) return absl::InternalError("archive_read_disk_new failed");
  archive_read_disk_set_symlink_physical(disk.get());
  archive_read_disk_set_behavior(disk.get(), ARCHIVE_READDISK_NO_TRAVERSE_MOUNTS);
  if (archive_read_disk_open(disk.get(), dir.c_str()) != ARCHIVE_OK) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read ", dir, ": ", ArchiveError(disk.get())));
  }
  for (;;) {
    ArchiveEntry e(archive_entry_new());
    int r = archive_read_next_header2(disk.get(), e.get());
    if (r == ARCHIVE_EOF) break;
    const char* raw = archive_entry_pathname(e.get());
    std::string path = raw ? raw : "";
    // A warning means something about the entry (an xattr, an ACL) could
    // not be read: the copy would be silently different, so refuse.
    if (r != ARCHIVE_OK) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot read ", path.empty() ? dir : path, ": ", ArchiveError(disk.get())));
    }
    archive_read_disk_descend(disk.get());
    if (path != dir && !absl::StartsWith(path, dir + "/")) {
      return absl::InternalError(absl::StrCat("unexpected path ", path, " under ", dir));
    }
    // Sockets cannot be archived and mean nothing without their owner.
    if (archive_entry_filetype(e.get()) == AE_IFSOCK) continue;
    std::string name = prefix + path.substr(dir.size());
    archive_entry_set_pathname(e.get(), name.c_str());
    archive_entry_set_uname(e.get(), nullptr);
    archive_entry_set_gname(e.get(), nullptr);
    archive_entry* entry = e.release();
    archive_entry* spare = nullptr;
    archive_entry_linkify(resolver_.get(), &entry, &spare);
    e.reset(entry);
    ArchiveEntry spare_owner(spare);  // the pax strategy never returns one
    if (archive_write_header(a_.get(), e.get()) < ARCHIVE_WARN) return Failed(name);
    if (archive_entry_filetype(e.get()) != AE_IFREG || archive_entry_size(e.get()) == 0) continue;
    if (auto st = CopyBlocks(disk.get(), path, name); !st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::Status ArchiveWriter::CopyBlocks(archive* disk, const std::string& path,
                                       const std::string& name) {
  // Data blocks come with their offsets; a gap is a hole, which the pax
  // writer wants as zeros (it drops them again for sparse entries).
  int64_t progress = 0;
  for (;;) {
    const void* block = nullptr;
    size_t size = 0;
    la_int64_t offset = 0;
    int r = archive_read_data_block(disk, &block, &size, &offset);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot read ", path, ": ", ArchiveError(disk)));
    }
    while (offset > progress) {
      if (zeros_.empty()) zeros_.assign(kArchiveCopyBuffer, 0);
      size_t n = static_cast<size_t>(std::min<int64_t>(offset - progress, zeros_.size()));
      la_ssize_t w = archive_write_data(a_.get(), zeros_.data(), n);
      if (w <= 0) return Failed(name);
      progress += w;
    }
    if (size > 0) {
      la_ssize_t w = archive_write_data(a_.get(), block, size);
      if (w < 0) return Failed(name);
      progress += w;
    }
  }
  return absl::OkStatus();
}

absl::Status ArchiveWriter::Close() {
  if (archive_write_close(a_.get()) != ARCHIVE_OK) {
    return absl::InternalError(absl::StrCat("cannot finish the archive: ", Error()));
  }
  return absl::OkStatus();
}

absl::Status ArchiveWriter::Failed(const std::string& name) {
  return absl::InternalError(absl::StrCat("cannot write ", name, " to the archive: ", Error()));
}

}  // namespace osgv
