#include "lifecycle/migration/archive_unpacker.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lifecycle/bundle/bundle_writer.h"
#include "lifecycle/bundle/token_file.h"
#include "lifecycle/checkpoint/checkpoint_image.h"
#include "lifecycle/fs_util.h"
#include "lifecycle/image/digest.h"
#include "lifecycle/image/layer_paths.h"
#include "lifecycle/image/status_util.h"
#include "lifecycle/migration/archive_entries.h"
#include "lifecycle/migration/archive_reader.h"
#include "lifecycle/migration/archived_record_check.h"
#include "lifecycle/unique_fd.h"

namespace osgv {

absl::Status ArchiveUnpacker::Open() {
  disk_.reset(archive_write_disk_new());
  if (!disk_) return absl::InternalError("archive_write_disk_new failed");
  // Ownership, modes, times and the xattrs the entry policy lets through
  // (trusted.overlay.opaque) as exported; that needs root. No ACLs
  // (upper_entry_policy.h). Entry names are checked and prefixed with our
  // own canonical staging dir, hence no SECURE_NOABSOLUTEPATHS; symlinks
  // in the tree are never followed.
  int flags = ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
              ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
              ARCHIVE_EXTRACT_SECURE_NODOTDOT;
  archive_write_disk_set_options(disk_.get(), flags);
  return absl::OkStatus();
}

absl::Status ArchiveUnpacker::Unpack(archive* in, archive_entry* entry) {
  const char* raw = archive_entry_pathname(entry);
  std::string name = raw ? raw : "";
  // SplitEntryName reads "/x" as "x"; export never writes such a name.
  if (absl::StartsWith(name, "/")) {
    return absl::InvalidArgumentError(
        absl::StrCat("archive entry '", name, "' has an absolute name"));
  }
  auto comps = layer::SplitEntryName(name);
  if (!comps.ok() || comps->empty()) {
    return absl::InvalidArgumentError(absl::StrCat("archive entry '", name, "' has a bad name"));
  }
  if (name == kSandboxArchiveManifestName) {
    return absl::InvalidArgumentError(absl::StrCat("archive has a second ", name));
  }
  if (name == kBundleConfigEntry) return DiscardBundleConfig(in, entry);
  if ((*comps)[0] == kUpperEntry) return Upper(in, entry, name, *comps);
  if ((*comps)[0] == kFilesEntry) return Carried(in, entry, name, *comps);
  if ((*comps)[0] == kCheckpointEntry && comps->size() == 2) {
    return CheckpointFile(in, entry, (*comps)[1]);
  }
  return absl::InvalidArgumentError(absl::StrCat("unexpected archive entry '", name, "'"));
}

absl::Status ArchiveUnpacker::Finish(const CheckpointImage* final_image) {
  if (archive_write_close(disk_.get()) != ARCHIVE_OK) {
    return absl::InternalError(
        absl::StrCat("cannot finish the writable layer: ", ArchiveError(disk_.get())));
  }
  if (!saw_upper_root_) {
    return absl::InvalidArgumentError("the archive has no upper/ (writable layer) directory");
  }
  if (m_.checkpoint) {
    for (const auto& [file, digest] : m_.checkpoint->files) {
      if (!seen_checkpoint_files_.count(file)) {
        return absl::DataLossError(
            absl::StrCat("checkpoint file '", file, "' listed in the manifest is missing"));
      }
    }
  }
  for (const auto& rel : m_.carried_files) {
    if (!seen_carried_.count(rel)) {
      return absl::InvalidArgumentError(
          absl::StrCat("carried file '", rel, "' listed in the manifest is missing"));
    }
  }
  // The bundle itself is written at the sandbox's first Start.
  if (auto st = MakeSandboxDirs(SandboxPaths{sandbox_dir_}); !st.ok()) return st;
  if (final_image != nullptr) {
    auto st = WriteFileAtomic(image_dir_ + "/" + kCheckpointManifestName,
                              CheckpointToJson(*final_image), 0600);
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

// Older exporters require, and this one still writes, the entry; the
// archived spec is never used: whoever wrote the archive chose its
// mounts, hooks and devices. Start writes a new one from the
// re-validated request, as create does.
absl::Status ArchiveUnpacker::DiscardBundleConfig(archive* in, archive_entry* entry) {
  if (saw_bundle_config_) {
    return absl::InvalidArgumentError("archive has a second bundle/config.json");
  }
  saw_bundle_config_ = true;
  return ReadSmallEntry(in, entry, kBundleConfigEntry).status();
}

absl::Status ArchiveUnpacker::Upper(archive* in, archive_entry* entry, const std::string& name,
                                    const std::vector<std::string>& comps) {
  mode_t type = archive_entry_filetype(entry);
  if (comps.size() == 1) {
    if (type != AE_IFDIR || saw_upper_root_) {
      return absl::InvalidArgumentError("archive entry 'upper' is not a single directory");
    }
    saw_upper_root_ = true;
  } else if (!saw_upper_root_) {
    return absl::InvalidArgumentError(
        absl::StrCat("archive entry '", name, "' comes before the upper/ directory"));
  }
  UpperEntryChanges changes;
  if (auto st = ApplyUpperEntryPolicy(entry, name, &changes); !st.ok()) return st;
  report_.Add(name, changes);
  return ExtractTo(in, entry, name, comps, kUpperEntry);
}

// files/auth/sandbox.jwt, the only carried file (CheckArchivedRecord):
// written by the token file's own writer, with its owner and modes.
absl::Status ArchiveUnpacker::Carried(archive* in, archive_entry* entry,
                                      const std::string& name,
                                      const std::vector<std::string>& comps) {
  std::string rel = absl::StrJoin(comps.begin() + 1, comps.end(), "/");
  bool listed = std::find(m_.carried_files.begin(), m_.carried_files.end(), rel) !=
                m_.carried_files.end();
  if (!listed || rel != CarriedTokenFile()) {
    return absl::InvalidArgumentError(
        absl::StrCat("archive entry '", name, "' is not listed in the manifest"));
  }
  if (archive_entry_filetype(entry) != AE_IFREG || archive_entry_hardlink(entry) != nullptr ||
      (archive_entry_perm(entry) & (S_ISUID | S_ISGID)) != 0 ||
      !seen_carried_.insert(rel).second) {
    return absl::InvalidArgumentError(
        absl::StrCat("archive entry '", name, "' is not a single regular file"));
  }
  auto text = ReadSmallEntry(in, entry, name);
  if (!text.ok()) return text.status();
  std::string token = *text;
  if (absl::EndsWith(token, "\n")) token.pop_back();
  // Its message names the field and never the token.
  return Prefixed(absl::StrCat("archive entry '", name, "'"),
                     WriteTokenFile(sandbox_dir_, token));
}

// Writes the entry at <sandbox dir>/<comps> with everything libarchive
// keeps; a hard link may only point inside `area` (an archive path).
absl::Status ArchiveUnpacker::ExtractTo(archive* in, archive_entry* entry,
                                        const std::string& name,
                                        const std::vector<std::string>& comps,
                                        const std::string& area) {
  if (auto st = layer::CheckParents(sandbox_dir_, comps, name); !st.ok()) {
    return absl::InvalidArgumentError(st.message());
  }
  std::string path = layer::JoinUnder(sandbox_dir_, comps);
  archive_entry_set_pathname(entry, path.c_str());
  if (const char* link = archive_entry_hardlink(entry)) {
    auto target = layer::SplitEntryName(link);
    std::string joined = target.ok() ? absl::StrJoin(*target, "/") : "";
    if (!target.ok() || !absl::StartsWith(joined, area + "/")) {
      return absl::InvalidArgumentError(
          absl::StrCat("archive entry '", name, "' is a hard link outside ", area, "/"));
    }
    std::vector<std::string> under(target->begin(), target->end());
    std::string target_path = layer::JoinUnder(sandbox_dir_, under);
    archive_entry_set_hardlink(entry, target_path.c_str());
  }
  if (archive_write_header(disk_.get(), entry) < ARCHIVE_WARN) return WriteError(name);
  EntryCopy copied = CopyEntryData(in, disk_.get());
  if (copied == EntryCopy::kReadFailed) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read archive entry '", name, "': ", ArchiveError(in)));
  }
  if (copied == EntryCopy::kWriteFailed) return WriteError(name);
  if (archive_write_finish_entry(disk_.get()) < ARCHIVE_WARN) return WriteError(name);
  return absl::OkStatus();
}

absl::Status ArchiveUnpacker::CheckpointFile(archive* in, archive_entry* entry,
                                             const std::string& file) {
  if (!m_.checkpoint || !m_.checkpoint->files.count(file)) {
    return absl::InvalidArgumentError(
        absl::StrCat("archive entry 'checkpoint/", file, "' is not listed in the manifest"));
  }
  if (archive_entry_filetype(entry) != AE_IFREG || !seen_checkpoint_files_.insert(file).second) {
    return absl::InvalidArgumentError(
        absl::StrCat("archive entry 'checkpoint/", file, "' is not a single regular file"));
  }
  std::string path = image_dir_ + "/" + file;
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus("create", path);
  UniqueFd closer(fd);
  std::vector<char> buf(kArchiveCopyBuffer);
  Sha256Hasher hash;
  for (;;) {
    la_ssize_t n = archive_read_data(in, buf.data(), buf.size());
    if (n == 0) break;
    if (n < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot read archive entry 'checkpoint/", file, "': ", ArchiveError(in)));
    }
    hash.Update(buf.data(), static_cast<size_t>(n));
    for (la_ssize_t off = 0; off < n;) {
      ssize_t w = write(fd, buf.data() + off, static_cast<size_t>(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return ErrnoStatus("write", path);
      off += w;
    }
  }
  if (fsync(fd) != 0) return ErrnoStatus("fsync", path);
  auto sum = hash.Finish();
  if (!sum.ok()) return sum.status();
  const std::string& got = *sum;
  const std::string& want = m_.checkpoint->files.at(file);
  if (got != want) {
    return absl::DataLossError(absl::StrCat("checkpoint file '", file,
                                            "' does not match its digest in the manifest (",
                                            want, ", archive holds ", got,
                                            "): the archive is damaged"));
  }
  return absl::OkStatus();
}

absl::Status ArchiveUnpacker::WriteError(const std::string& name) {
  return absl::InternalError(
      absl::StrCat("cannot extract archive entry '", name, "': ", ArchiveError(disk_.get())));
}

}  // namespace osgv
