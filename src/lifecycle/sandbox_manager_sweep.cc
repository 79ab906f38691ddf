// SandboxManager: the start-up sweep of what a crash or a lost record left
// behind (docs/lifecycle.md, "Recovery"): runsc containers, sandbox
// directories, checkpoint directories and networks that no sandbox record
// owns.
//
// It removes only what the driver made. A name must be one NewRunscId makes
// (IsDriverRunscId): checkpoint_dir may be a directory an operator also
// keeps other things in, and the state dir may hold an operator's
// experiments or an import's staging. In the checkpoint directory, where
// that matters most, a directory must moreover be laid out as
// CheckpointLocked lays it out. Anything else is left alone and logged.
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <string>

#include "absl/strings/match.h"
#include "lifecycle/fs_util.h"
#include "lifecycle/runsc/runsc_id.h"
#include "lifecycle/sandbox_manager.h"

namespace osgv {
namespace {

// Whether `name` is one the sweep may remove; says so once when it is not.
bool SweepableName(const std::string& name, const std::string& what) {
  if (IsDriverRunscId(name)) return true;
  spdlog::info("recovery: leaving {} '{}' alone: not a name this driver makes", what, name);
  return false;
}

bool IsPlainDir(const std::string& path, struct stat* st) {
  return lstat(path.c_str(), st) == 0 && S_ISDIR(st->st_mode);
}

// A checkpoint directory as CheckpointLocked (or an import) leaves it: a
// real directory of ours (not a symlink) holding nothing but the sealed
// `image`, the `image.old` SealCheckpoint moves aside while replacing it,
// and `tmp-*` images in the making, each a real directory itself.
bool LooksLikeOurCheckpoints(const std::string& dir) {
  struct stat st;
  if (!IsPlainDir(dir, &st) || st.st_uid != geteuid()) return false;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name != "image" && name != "image.old" &&
        !absl::StartsWith(name, CheckpointPaths::kStagingPrefix)) {
      return false;
    }
    struct stat inner;
    if (!IsPlainDir(entry.path().string(), &inner)) return false;
  }
  return !ec;
}

}  // namespace

std::set<std::string> SandboxManager::KnownRunscIds() const {
  std::set<std::string> known;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [id, e] : entries_) known.insert(e->runsc_id);
  return known;
}

void SandboxManager::RemoveOrphans(const std::map<std::string, ContainerState>& containers) {
  const std::set<std::string> known = KnownRunscIds();
  for (const auto& [rid, c] : containers) {
    if (known.count(rid) || !SweepableName(rid, "runsc container")) continue;
    spdlog::warn("recovery: removing runsc container {} ({}) that has no sandbox record", rid,
                 c.status);
    SandboxHost::Orphan(&seams_, rid).Release();
  }
  std::error_code ec;
  for (const auto& dir : std::filesystem::directory_iterator(d_.layout.sandboxes(), ec)) {
    std::string rid = dir.path().filename().string();
    if (known.count(rid) || !SweepableName(rid, "sandbox directory entry")) continue;
    spdlog::warn("recovery: removing sandbox directory {} that has no sandbox record",
                 dir.path().string());
    auto st = SandboxHost::Orphan(&seams_, rid).RemoveFiles();
    if (!st.ok()) spdlog::error("recovery: {}", st.ToString());
  }
  const std::string checkpoints = d_.layout.checkpoints(d_.config.checkpoint_dir);
  for (const auto& dir : std::filesystem::directory_iterator(checkpoints, ec)) {
    std::string rid = dir.path().filename().string();
    if (known.count(rid) || !SweepableName(rid, "checkpoint directory entry")) continue;
    if (!LooksLikeOurCheckpoints(dir.path().string())) {
      spdlog::info("recovery: leaving {} alone: not laid out like the driver's checkpoints",
                   dir.path().string());
      continue;
    }
    spdlog::warn("recovery: removing checkpoints {} that have no sandbox record",
                 dir.path().string());
    RemoveTree(dir.path().string()).IgnoreError();
  }
}

void SandboxManager::RemoveOrphanNetworks() {
  if (d_.network == nullptr) return;
  auto ids = d_.network->ListAttachments();
  if (!ids.ok()) {
    spdlog::error("recovery: cannot list sandbox networks: {}", ids.status().ToString());
    return;
  }
  const std::set<std::string> known = KnownRunscIds();
  for (const auto& rid : *ids) {
    if (known.count(rid) || !SweepableName(rid, "sandbox network")) continue;
    spdlog::warn("recovery: removing the network of {} that has no sandbox record", rid);
    if (auto st = d_.network->Teardown(rid); !st.ok()) {
      spdlog::error("recovery: {}", st.ToString());
    }
  }
}

}  // namespace osgv
