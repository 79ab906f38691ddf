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
// (bundle/bundle_writer.h), so no mount, hook or device of the
// archive's choosing reaches runsc.
//
// Import writes everything under temporary names ("<dir>/.import-<id>"),
// makes the directories visible by rename, and inserts the record last,
// so a failed or interrupted import leaves no sandbox behind (a crash
// between the renames and the insert leaves record-less directories, which
// the next import or driver start removes). The caller must hold the state
// directory's lock (cli/state_dir_lock.h) for the whole import.
//
// The code, one concept a file: sandbox_manifest.{h,cc} (the manifest),
// sandbox_export.{h,cc} and archive_writer.{h,cc} (writing),
// portable_bundle.{h,cc} (the bundle config for older importers),
// archive_reader.{h,cc} (opening and walking an archive),
// sandbox_import.{h,cc} and archive_unpacker.{h,cc} (checking each entry
// and materialising it in the state dir), archived_record_check.{h,cc} and
// upper_entry_policy.{h,cc} (the import's checks).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "lifecycle/migration/sandbox_export.h"
#include "lifecycle/migration/sandbox_import.h"
#include "lifecycle/migration/sandbox_manifest.h"

namespace osgv {

// Reads only the manifest (the first entry) of an archive
// (archive_reader.cc).
absl::StatusOr<SandboxArchiveManifest> ReadSandboxArchiveManifest(const std::string& file);

}  // namespace osgv
