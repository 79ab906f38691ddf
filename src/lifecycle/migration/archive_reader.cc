#include "lifecycle/migration/archive_reader.h"

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "lifecycle/image/status_util.h"
#include "lifecycle/migration/sandbox_archive.h"

namespace osgv {

absl::StatusOr<ReadArchive> OpenSandboxArchive(const std::string& file) {
  ReadArchive a(archive_read_new());
  if (!a) return absl::InternalError("archive_read_new failed");
  archive_read_support_filter_all(a.get());
  archive_read_support_format_tar(a.get());
  if (archive_read_open_filename(a.get(), file.c_str(), 1 << 16) != ARCHIVE_OK) {
    return absl::Status(archive_errno(a.get()) == ENOENT ? absl::StatusCode::kNotFound
                                                         : absl::StatusCode::kInvalidArgument,
                        absl::StrCat("cannot open ", file, ": ", ArchiveError(a.get())));
  }
  return a;
}

absl::StatusOr<archive_entry*> NextArchiveHeader(archive* a, const std::string& file) {
  archive_entry* entry = nullptr;
  int r = archive_read_next_header(a, &entry);
  if (r == ARCHIVE_EOF) return nullptr;
  if (r < ARCHIVE_WARN) {
    return absl::InvalidArgumentError(absl::StrCat(file, " is not a readable sandbox archive: ",
                                                   ArchiveError(a)));
  }
  return entry;
}

absl::StatusOr<std::string> ReadSmallEntry(archive* a, archive_entry* entry,
                                           const std::string& name) {
  if (archive_entry_filetype(entry) != AE_IFREG) {
    return absl::InvalidArgumentError(absl::StrCat("archive entry ", name, " is not a file"));
  }
  if (archive_entry_size(entry) > kMaxSmallArchiveEntry) {
    return absl::InvalidArgumentError(absl::StrCat("archive entry ", name, " is too large"));
  }
  std::string out;
  char buf[65536];
  for (;;) {
    la_ssize_t n = archive_read_data(a, buf, sizeof buf);
    if (n == 0) break;
    if (n < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot read archive entry ", name, ": ", ArchiveError(a)));
    }
    out.append(buf, static_cast<size_t>(n));
    if (static_cast<int64_t>(out.size()) > kMaxSmallArchiveEntry) {
      return absl::InvalidArgumentError(absl::StrCat("archive entry ", name, " is too large"));
    }
  }
  return out;
}

absl::StatusOr<SandboxArchiveManifest> ReadManifestEntry(archive* a, const std::string& file) {
  auto entry = NextArchiveHeader(a, file);
  if (!entry.ok()) return entry.status();
  const char* name = *entry ? archive_entry_pathname(*entry) : nullptr;
  if (name == nullptr || std::string(name) != kSandboxArchiveManifestName) {
    return absl::InvalidArgumentError(absl::StrCat(
        file, " is not a sandbox archive: it does not start with ", kSandboxArchiveManifestName));
  }
  auto text = ReadSmallEntry(a, *entry, kSandboxArchiveManifestName);
  if (!text.ok()) return text.status();
  auto manifest = SandboxManifestFromJson(*text);
  if (!manifest.ok()) return Prefixed(file, manifest.status());
  return manifest;
}


absl::StatusOr<SandboxArchiveManifest> ReadSandboxArchiveManifest(const std::string& file) {
  auto a = OpenSandboxArchive(file);
  if (!a.ok()) return a.status();
  return ReadManifestEntry(a->get(), file);
}

}  // namespace osgv
