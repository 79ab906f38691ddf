// Export: ExportSandbox checks the sandbox is stopped, writes its archive
// to a new temporary file and renames it into place only if the sandbox
// did not change meanwhile.
#include "lifecycle/migration/sandbox_export.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "lifecycle/fs_util.h"
#include "lifecycle/image/digest.h"
#include "lifecycle/image/status_util.h"
#include "lifecycle/migration/archive_entries.h"
#include "lifecycle/migration/archive_writer.h"
#include "lifecycle/migration/portable_bundle.h"
#include "lifecycle/sandbox_status.h"
#include "lifecycle/store/record_lookup.h"
#include "lifecycle/wall_clock.h"

namespace osgv {

namespace fs = std::filesystem;

absl::StatusOr<SandboxArchiveManifest> ManifestForExport(const SandboxRecord& record) {
  if (record.phase != phase::kStopped) {
    return absl::FailedPreconditionError(absl::StrCat(
        "sandbox '", record.id, "' (", record.name, ") is ", PhaseName(record.phase),
        ", not stopped: stop it first (StopSandbox, or ctl stop ", record.id, ")"));
  }
  SandboxArchiveManifest m;
  m.driver_version = OSGV_VERSION;
  m.exported_at_ms = UnixNowMs();
  m.record = record;
  m.record.runsc_id.clear();
  m.record.monitor_pid = 0;
  m.record.checkpoint_json.clear();
  if (!record.checkpoint_json.empty()) {
    auto image = CheckpointFromJson(record.checkpoint_json);
    if (!image.ok()) {
      return absl::DataLossError(absl::StrCat("sandbox '", record.id,
                                              "': its checkpoint record is unreadable: ",
                                              image.status().message()));
    }
    image->dir.clear();
    m.checkpoint = *image;
  }
  return m;
}

namespace {

// Writes the archive to `fd` (open on `tmp`, created by the caller) and
// renames `tmp` to `file`.
absl::StatusOr<ExportResult> ExportRecord(StateStore* store, const StateLayout& layout,
                                          const SandboxRecord& record, const std::string& file,
                                          const std::string& tmp, int fd) {
  auto manifest = ManifestForExport(record);
  if (!manifest.ok()) return manifest.status();
  const std::string rid = record.runsc_id;
  std::string upper = layout.upper(rid);
  std::error_code ec;
  if (!fs::is_directory(upper, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat("its writable layer ", upper, " is missing"));
  }
  auto config = ReadFile(layout.bundle_config(rid));
  if (!config.ok()) return config.status();
  auto portable = MakePortable(*config, rid);
  if (!portable.ok()) return portable.status();
  manifest->bundle_config_digest = Sha256String(portable->text);
  manifest->carried_files = portable->carried;
  for (const auto& rel : portable->carried) {
    std::string path = layout.sandbox_dir(rid) + "/" + rel;
    if (!fs::exists(fs::symlink_status(path, ec))) {
      return absl::FailedPreconditionError(
          absl::StrCat("its bind mount source ", path, " is missing"));
    }
  }
  std::string image_dir;
  if (manifest->checkpoint) {
    image_dir = CheckpointFromJson(record.checkpoint_json)->dir;
  }

  ArchiveWriter w;
  if (auto st = w.Open(fd); !st.ok()) return st;
  if (auto st = w.AddBytes(kSandboxArchiveManifestName, SandboxManifestToJson(*manifest), 0600);
      !st.ok()) {
    return st;
  }
  if (auto st = w.AddTree(kUpperEntry, upper); !st.ok()) return st;
  if (auto st = w.AddBytes(kBundleConfigEntry, portable->text, 0600); !st.ok()) return st;
  for (const auto& rel : portable->carried) {
    auto st = w.AddTree(std::string(kFilesEntry) + "/" + rel, layout.sandbox_dir(rid) + "/" + rel);
    if (!st.ok()) return st;
  }
  if (manifest->checkpoint) {
    for (const auto& [name, want] : manifest->checkpoint->files) {
      std::string got;
      std::string path = image_dir + "/" + name;
      auto st = w.AddFile(std::string(kCheckpointEntry) + "/" + name, path, &got);
      if (!st.ok()) return st;
      if (got != want) {
        return absl::DataLossError(absl::StrCat(
            "its checkpoint file ", path, " does not match its recorded digest; the image "
            "is damaged (Start would boot it cold): start it, stop it again, then export"));
      }
    }
  }
  if (auto st = w.Close(); !st.ok()) return st;
  if (fsync(fd) != 0) return ErrnoStatus("fsync", tmp);

  // Read at the start, checked again at the end: a Start (or anything
  // else) in between changed the files under us.
  auto now = store->Get(record.id);
  if (!now.ok()) return now.status();
  if (!now->has_value() || (*now)->generation != record.generation ||
      (*now)->phase != phase::kStopped) {
    return absl::AbortedError(absl::StrCat(
        "it changed while it was being exported (now ",
        now->has_value() ? PhaseName((*now)->phase) : "deleted",
        "); export it again while it is stopped"));
  }
  struct stat st;
  ExportResult result;
  result.manifest = *manifest;
  result.warnings = portable->warnings;
  if (fstat(fd, &st) == 0) result.archive_bytes = static_cast<uint64_t>(st.st_size);
  // Never over a file that appeared meanwhile (or a symlink planted there).
  if (renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, file.c_str(), RENAME_NOREPLACE) != 0) {
    if (errno == EEXIST) {
      return absl::AlreadyExistsError(
          absl::StrCat(file, " appeared while the archive was being written; it was left alone"));
    }
    return ErrnoStatus("rename", tmp);
  }
  std::string parent = fs::path(file).parent_path().string();
  FsyncDir(parent.empty() ? "." : parent).IgnoreError();
  return result;
}

}  // namespace

absl::StatusOr<ExportResult> ExportSandbox(StateStore* store, const StateLayout& layout,
                                           const std::string& id_or_name,
                                           const std::string& file) {
  auto records = store->List();
  if (!records.ok()) return records.status();
  auto record = FindRecord(*records, id_or_name);
  if (!record.ok()) return record.status();
  std::error_code ec;
  if (fs::exists(file, ec) || fs::is_symlink(file, ec)) {
    return absl::AlreadyExistsError(absl::StrCat("export of sandbox '", record->id, "': ", file,
                                                 " already exists; remove it or choose another "
                                                 "file"));
  }
  std::string tmp = file + ".tmp";
  // Our own new file: not one someone left (or linked) there for us to
  // write through.
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0 && errno == EEXIST) {
    return absl::AlreadyExistsError(absl::StrCat(
        "export of sandbox '", record->id, "': ", tmp,
        " already exists (another export to the same file, or one that was interrupted); "
        "remove it or choose another file"));
  }
  if (fd < 0) {
    return Prefixed(absl::StrCat("export of sandbox '", record->id, "'"),
                    ErrnoStatus("create", tmp));
  }
  auto result = ExportRecord(store, layout, *record, file, tmp, fd);
  close(fd);
  if (!result.ok()) {
    unlink(tmp.c_str());
    // ManifestForExport's refusal already names the sandbox.
    if (absl::IsFailedPrecondition(result.status()) && record->phase != phase::kStopped) {
      return result.status();
    }
    return Prefixed(absl::StrCat("export of sandbox '", record->id, "'"), result.status());
  }
  return result;
}

}  // namespace osgv
