// Import: ImportSandbox reads and checks the manifest, unpacks every entry
// into staged directories (archive_unpacker.h), then makes them visible by
// rename and inserts the record last.
#include "lifecycle/migration/sandbox_import.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <initializer_list>
#include <optional>

#include "absl/strings/str_cat.h"
#include "capabilities/image_reference.h"
#include "lifecycle/checkpoint/checkpoint_image.h"
#include "lifecycle/fs_util.h"
#include "lifecycle/image/oci_layout.h"
#include "lifecycle/image/status_util.h"
#include "lifecycle/migration/archive_reader.h"
#include "lifecycle/migration/archive_unpacker.h"
#include "lifecycle/migration/archived_record_check.h"
#include "lifecycle/runsc/runsc_id.h"
#include "lifecycle/sandbox_status.h"
#include "lifecycle/wall_clock.h"

namespace osgv {
namespace {

namespace fs = std::filesystem;

// Removes what an interrupted import left (we hold the state dir lock, so
// nobody else is writing one).
void RemoveStaleStaging(const std::string& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().filename().string().rfind(StateLayout::kImportStagingPrefix, 0) == 0) {
      RemoveTree(entry.path().string()).IgnoreError();
    }
  }
}

// Deletes the staged (and, after a failure past the renames, the final)
// directories unless disarmed.
struct Cleanup {
  std::vector<std::string> paths;
  bool armed = true;
  ~Cleanup() {
    if (!armed) return;
    for (const auto& p : paths) RemoveTree(p).IgnoreError();
  }
};

absl::Status CheckNoConflict(StateStore* store, const SandboxRecord& r) {
  auto records = store->List();
  if (!records.ok()) return records.status();
  for (const auto& other : *records) {
    if (other.id == r.id) {
      return absl::AlreadyExistsError(absl::StrCat(
          "sandbox.id: a sandbox with id '", r.id, "' already exists in this state dir (as ",
          other.runsc_id, ", phase ", PhaseName(other.phase), ")"));
    }
    if (other.workspace == r.workspace && other.name == r.name) {
      return absl::AlreadyExistsError(absl::StrCat(
          "sandbox.name: a sandbox named '", r.name, "' already exists in workspace '",
          r.workspace, "' (id ", other.id, ")"));
    }
  }
  return absl::OkStatus();
}

// The image is not in the archive: the importing host must resolve the same
// reference to the same manifest, or the writable layer and the memory would
// sit on top of different files.
std::optional<std::string> ImageWarning(const SandboxRecord& r) {
  auto ref = ParseImageReference(r.image_ref);
  if (!ref.ok()) {
    return absl::StrCat("image '", r.image_ref, "' cannot be used here (", ref.status().message(),
                        "); Start will fail until it can");
  }
  // A registry image is pulled at Start, by the recorded digest.
  if (ref->is_registry()) return std::nullopt;
  auto resolved = OciLayout(ref->layout_dir).Resolve(ref->tag);
  if (!resolved.ok()) {
    return absl::StrCat("image '", r.image_ref, "' does not resolve on this host (",
                        resolved.status().message(),
                        "); Start will fail until the same image is there");
  }
  if (!r.image_digest.empty() && resolved->manifest.digest != r.image_digest) {
    return absl::StrCat("image '", r.image_ref, "' resolves to ", resolved->manifest.digest,
                        " here but the sandbox ran on ", r.image_digest,
                        "; its files and memory were made on top of that image, so put the "
                        "same image under that reference before starting it");
  }
  return std::nullopt;
}

absl::StatusOr<ImportResult> ImportUnprefixed(StateStore* store, const StateLayout& layout,
                                              const std::string& checkpoint_dir,
                                              const std::string& file, archive* in,
                                              const SandboxArchiveManifest& manifest,
                                              const SandboxPlan& plan) {
  if (auto st = CheckNoConflict(store, manifest.record); !st.ok()) return st;

  auto new_rid = NewRunscId();
  if (!new_rid.ok()) return new_rid.status();
  const std::string rid = *new_rid;
  const std::string ck_root = layout.checkpoint_root(checkpoint_dir, rid);
  const std::string ck_base = layout.checkpoints(checkpoint_dir);
  for (const auto& dir : {layout.runsc_root(), layout.images(), layout.sandboxes(), ck_base}) {
    if (auto st = MakeDirs(dir, 0700); !st.ok()) return st;
  }
  RemoveStaleStaging(layout.sandboxes());
  RemoveStaleStaging(ck_base);

  // Staging: the sandbox dir and the checkpoint root under temporary names
  // in the directories they will be renamed within.
  std::string staged_sandbox = layout.staged_sandbox_dir(rid);
  CheckpointPaths staged_paths = layout.staged_checkpoint(checkpoint_dir, rid);
  std::string staged_ck = staged_paths.root;
  Cleanup cleanup{{staged_sandbox, staged_ck}};
  for (const auto& dir : {staged_sandbox, staged_ck, staged_paths.image()}) {
    if (mkdir(dir.c_str(), 0700) != 0) return ErrnoStatus("mkdir", dir);
  }
  std::error_code ec;
  // Canonical, so no symlink in the state dir's own path trips
  // ARCHIVE_EXTRACT_SECURE_SYMLINKS.
  std::string sandbox_canon = fs::canonical(staged_sandbox, ec).string();
  if (ec) return absl::InternalError(absl::StrCat("resolve ", staged_sandbox, ": ", ec.message()));

  ArchiveUnpacker unpacker(manifest, sandbox_canon, staged_paths.image());
  if (auto st = unpacker.Open(); !st.ok()) return st;
  for (;;) {
    auto entry = NextArchiveHeader(in, file);
    if (!entry.ok()) return entry.status();
    if (*entry == nullptr) break;
    if (auto st = unpacker.Unpack(in, *entry); !st.ok()) return st;
  }

  SandboxRecord r = manifest.record;
  r.runsc_id = rid;
  r.monitor_pid = 0;
  r.phase = phase::kStopped;
  r.updated_at_ms = UnixNowMs();
  r.generation = manifest.record.generation + 1;
  // Decided here, on this host (CheckArchivedRecord): the bundle is written
  // from it at the first Start.
  r.plan_json = EncodePlan(plan);
  std::optional<CheckpointImage> image = manifest.checkpoint;
  if (image) image->dir = layout.checkpoint(checkpoint_dir, rid).image();
  r.checkpoint_json = image ? CheckpointToJson(*image) : "";
  r.reason = image ? reason::kCheckpointed : reason::kStoppedWithoutMemory;
  r.message = absl::StrCat(
      "Imported from another driver (exported by openshell-driver-gvisor ",
      manifest.driver_version.empty() ? "?" : manifest.driver_version, " at ",
      Rfc3339(manifest.exported_at_ms), "); ",
      image ? absl::StrCat("Start restores its memory (", DescribeMiB(image->bytes), ")")
            : std::string("no memory was kept, so Start boots it cold"));
  if (auto st = unpacker.Finish(image ? &*image : nullptr); !st.ok()) return st;

  // Everything is written; make it durable, then visible: the directories
  // by rename, the record last.
  int dirfd = open(staged_sandbox.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd >= 0) {
    syncfs(dirfd);
    close(dirfd);
  }
  dirfd = open(staged_ck.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd >= 0) {
    syncfs(dirfd);
    close(dirfd);
  }
  std::string final_sandbox = layout.sandbox_dir(rid);
  if (!image) {
    RemoveTree(staged_ck).IgnoreError();
    cleanup.paths.pop_back();
  }
  if (rename(staged_sandbox.c_str(), final_sandbox.c_str()) != 0) {
    return ErrnoStatus("rename", staged_sandbox);
  }
  cleanup.paths[0] = final_sandbox;
  if (image) {
    if (rename(staged_ck.c_str(), ck_root.c_str()) != 0) return ErrnoStatus("rename", staged_ck);
    cleanup.paths[1] = ck_root;
    FsyncDir(ck_base).IgnoreError();
  }
  FsyncDir(layout.sandboxes()).IgnoreError();
  if (auto st = store->Insert(r); !st.ok()) return st;
  cleanup.armed = false;

  ImportResult result;
  result.record = r;
  result.manifest = manifest;
  result.warnings = unpacker.Warnings();
  if (auto w = ImageWarning(r)) result.warnings.push_back(*w);
  return result;
}

}  // namespace

absl::StatusOr<ImportResult> ImportSandbox(StateStore* store, const StateLayout& layout,
                                           const Config& config, const std::string& file) {
  auto in = OpenSandboxArchive(file);
  if (!in.ok()) return in.status();
  auto manifest = ReadManifestEntry(in->get(), file);
  if (!manifest.ok()) return manifest.status();
  auto plan = CheckArchivedRecord(*manifest, config);
  auto result = plan.ok() ? ImportUnprefixed(store, layout, config.checkpoint_dir, file,
                                             in->get(), *manifest, *plan)
                          : absl::StatusOr<ImportResult>(plan.status());
  if (!result.ok()) {
    return Prefixed(
        absl::StrCat("import of sandbox '", manifest->record.id, "' from ", file), result.status());
  }
  return result;
}

}  // namespace osgv
