// Import's per-entry half: checks each entry of an archive (after the
// manifest) against the manifest and the rules in sandbox_archive.h, and
// writes it into a staged sandbox dir or checkpoint image dir. Nothing it
// writes is visible until sandbox_import.cc renames the staged dirs.
#pragma once

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "lifecycle/archive_handles.h"
#include "lifecycle/checkpoint/checkpoint_image.h"
#include "lifecycle/migration/sandbox_manifest.h"
#include "lifecycle/migration/upper_entry_policy.h"

namespace osgv {

class ArchiveUnpacker {
 public:
  // `sandbox_dir` (canonical) and `image_dir` exist and are empty;
  // `manifest` outlives the unpacker.
  ArchiveUnpacker(const SandboxArchiveManifest& manifest, std::string sandbox_dir,
                  std::string image_dir)
      : m_(manifest), sandbox_dir_(std::move(sandbox_dir)), image_dir_(std::move(image_dir)) {}

  absl::Status Open();

  // The entry `in` is positioned on: refused (INVALID_ARGUMENT naming it;
  // DATA_LOSS for a checkpoint file that does not match its digest) or
  // written.
  absl::Status Unpack(archive* in, archive_entry* entry);

  // Checks that nothing was missing, creates the empty bundle and work
  // directories, and applies libarchive's deferred directory times. The
  // sandbox's first Start writes the bundle (SandboxManager::StartLocked).
  // `final_image`, when the sandbox has one, is written as the image's
  // manifest.
  absl::Status Finish(const CheckpointImage* final_image);

  // What the entry policy stripped, for ImportResult::warnings.
  std::vector<std::string> Warnings() const { return report_.Warnings(); }

 private:
  absl::Status DiscardBundleConfig(archive* in, archive_entry* entry);
  absl::Status Upper(archive* in, archive_entry* entry, const std::string& name,
                     const std::vector<std::string>& comps);
  absl::Status Carried(archive* in, archive_entry* entry, const std::string& name,
                       const std::vector<std::string>& comps);
  absl::Status ExtractTo(archive* in, archive_entry* entry, const std::string& name,
                         const std::vector<std::string>& comps, const std::string& area);
  absl::Status CheckpointFile(archive* in, archive_entry* entry, const std::string& file);
  absl::Status WriteError(const std::string& name);

  const SandboxArchiveManifest& m_;
  std::string sandbox_dir_;
  std::string image_dir_;
  WriteArchive disk_;
  bool saw_upper_root_ = false;
  bool saw_bundle_config_ = false;
  UpperEntryReport report_;
  std::set<std::string> seen_checkpoint_files_;
  std::set<std::string> seen_carried_;
};

}  // namespace osgv
