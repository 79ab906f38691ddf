// Moving one stopped sandbox between driver instances (another state dir,
// another runsc root, possibly another host): "node lost, sandbox resumes
// elsewhere".
//
// The archive is a pax tar compressed with zstd (import reads any filter
// libarchive knows: zstd, gzip, xz, none). Its entries, in this order:
//
//   osgv-sandbox.json      the manifest (SandboxArchiveManifest), always first
//   upper/...              the overlay's writable layer, with owners, modes,
//                          times, xattrs, hard links, sparse files and the
//                          whiteouts (char devices 0/0) kept
//   bundle/config.json     the OCI runtime spec the sandbox was started from,
//                          the sandbox dir and runsc id written as
//                          ${OSGV_SANDBOX_DIR} and ${OSGV_RUNSC_ID}; only
//                          for older importers: this one never uses it
//   files/auth/sandbox.jwt the sandbox token file, the only carried file
//   checkpoint/<file>      the memory image files (absent when the sandbox
//                          stopped without memory)
//
// Nothing host-specific travels: not the runsc id (host-global, so the
// importer allocates a new one), not the monitor pid, not the image
// directory path. Every checkpoint file's sha256 is in the manifest; export
// checks the files against it while it streams them, import checks them
// again before the sandbox becomes visible.
//
// Import treats the archive as untrusted input. The record is re-validated
// as create validates a request (archived_record_check.h: no host mounts,
// a valid image, nothing carried but the token); upper/ entries pass
// upper_entry_policy.h (no devices but whiteouts, no FIFOs, setuid/setgid
// bits and all xattrs but trusted.overlay.opaque stripped, with warnings);
// names are relative and stay inside their area. The archived bundle
// config is read and discarded: the sandbox's first Start writes the
// bundle from the re-validated request with the same code as create
// (SandboxManager::PrepareRootfs), so no mount, hook or device of the
// archive's choosing reaches runsc.
//
// Import writes everything under temporary names ("<dir>/.import-<id>"),
// makes the directories visible by rename, and inserts the record last,
// so a failed or interrupted import leaves no sandbox behind (a crash
// between the renames and the insert leaves record-less directories, which
// the next import or driver start removes). The caller must hold the state
// directory's lock (driver/state_dir_lock.h) for the whole import.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "capabilities/config.h"
#include "lifecycle/checkpoint/checkpoint_image.h"
#include "lifecycle/state_layout.h"
#include "lifecycle/store/state_store.h"

namespace osgv {

// Bump when an older importer could misread a newer archive.
inline constexpr int kSandboxArchiveFormatVersion = 1;
inline constexpr char kSandboxArchiveManifestName[] = "osgv-sandbox.json";

struct SandboxArchiveManifest {
  int format_version = kSandboxArchiveFormatVersion;
  std::string driver_version;  // of the exporting driver
  int64_t exported_at_ms = 0;
  // Every field but runsc_id and monitor_pid (host-specific: left empty/0).
  // record.checkpoint_json is left empty too: see `checkpoint`.
  SandboxRecord record;
  // The memory image (dir cleared; files -> "sha256:<hex>"); nullopt when
  // the sandbox stopped without memory and boots cold on Start.
  std::optional<CheckpointImage> checkpoint;
  // "sha256:<hex>" of bundle/config.json, for older importers (unused here).
  std::string bundle_config_digest;
  // Files from the sandbox dir that travel as files/<path>: at most the
  // token file, "auth/sandbox.jwt".
  std::vector<std::string> carried_files;
};

// The manifest as JSON and back (sandbox_manifest.cc).
std::string SandboxManifestToJson(const SandboxArchiveManifest& manifest);
// INVALID_ARGUMENT for malformed JSON or missing fields; FAILED_PRECONDITION
// when the format version is newer than this driver reads.
absl::StatusOr<SandboxArchiveManifest> SandboxManifestFromJson(const std::string& json);

// The manifest of a record as it would be exported (host fields cleared).
// FAILED_PRECONDITION naming the sandbox and its phase unless it is
// stopped ("stop it first"); DATA_LOSS when its checkpoint record is
// unreadable.
absl::StatusOr<SandboxArchiveManifest> ManifestForExport(const SandboxRecord& record);

// Where a sandbox's checkpoints live: <checkpoint_dir or state/checkpoints>/<rid>
// (the same rule as SandboxManager).
std::string CheckpointRootFor(const StateLayout& layout, const std::string& checkpoint_dir,
                              const std::string& runsc_id);

struct ExportResult {
  SandboxArchiveManifest manifest;
  uint64_t archive_bytes = 0;
  // e.g. a bind mount of a per-sandbox host path outside the sandbox dir,
  // which does not travel.
  std::vector<std::string> warnings;
};

// Writes the stopped sandbox `id_or_name` (an id, or a name unique across
// workspaces) to `file`, via a new `file`.tmp and a rename that never
// replaces a file. Only reads the state dir, so it may run while a driver
// serves it; if the sandbox leaves the stopped phase while the archive is
// being written, export fails and no file is left. ALREADY_EXISTS when
// `file` or `file`.tmp exists (or `file` appears meanwhile).
absl::StatusOr<ExportResult> ExportSandbox(StateStore* store, const StateLayout& layout,
                                           const std::string& id_or_name,
                                           const std::string& file);

struct ImportResult {
  SandboxRecord record;               // as inserted (new runsc id, phase stopped)
  SandboxArchiveManifest manifest;    // as read from the archive
  // e.g. the image is not resolvable here; setuid bits or xattrs stripped
  std::vector<std::string> warnings;
};

// Unpacks `file` into the state dir and inserts the sandbox as stopped,
// without a bundle (its first Start writes one). INVALID_ARGUMENT for an
// archive the checks above refuse, naming the field or entry;
// ALREADY_EXISTS when the id, or the (workspace, name), is already there;
// DATA_LOSS when a checkpoint file does not match its digest; any failure
// leaves the state dir as it was. `config` is the importing driver's:
// the record is validated against it, and its checkpoint_dir ("" =
// <state>/checkpoints) receives the memory image.
absl::StatusOr<ImportResult> ImportSandbox(StateStore* store, const StateLayout& layout,
                                           const Config& config, const std::string& file);

// Reads only the manifest (the first entry) of an archive.
absl::StatusOr<SandboxArchiveManifest> ReadSandboxArchiveManifest(const std::string& file);

}  // namespace osgv
