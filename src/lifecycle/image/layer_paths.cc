#include "lifecycle/image/layer_paths.h"

#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace osgv::layer {
namespace {

constexpr char kWhiteoutPrefix[] = ".wh.";
constexpr char kMetaPrefix[] = ".wh..wh.";
constexpr char kOpaqueMarker[] = ".wh..wh..opq";

bool StartsWith(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace

absl::StatusOr<std::vector<std::string>> SplitEntryName(const std::string& name) {
  if (name.empty()) return absl::FailedPreconditionError("layer entry with an empty name");
  // Leading slashes are relative to the image root, as tar, containerd and
  // umoci (which writes the root itself as "/") all treat them. Escapes are
  // prevented by the ".." rule below and the parent-symlink checks.
  std::vector<std::string> comps;
  for (absl::string_view part : absl::StrSplit(name, '/', absl::SkipEmpty())) {
    if (part == ".") continue;
    if (part == "..") {
      return absl::FailedPreconditionError(
          absl::StrCat("layer entry '", name, "' contains a '..' component"));
    }
    comps.emplace_back(part);
  }
  return comps;
}

std::string JoinUnder(const std::string& root, const std::vector<std::string>& comps) {
  if (comps.empty()) return root;
  return absl::StrCat(root, "/", absl::StrJoin(comps, "/"));
}

Whiteout ClassifyWhiteout(const std::string& basename) {
  if (basename == kOpaqueMarker) return Whiteout::kOpaque;
  if (StartsWith(basename, kMetaPrefix)) return Whiteout::kMeta;
  if (StartsWith(basename, kWhiteoutPrefix)) return Whiteout::kFile;
  return Whiteout::kNone;
}

absl::StatusOr<std::string> WhiteoutTarget(const std::string& basename) {
  std::string hidden = basename.substr(sizeof(kWhiteoutPrefix) - 1);
  if (hidden.empty() || hidden == "." || hidden == "..") {
    return absl::FailedPreconditionError(
        absl::StrCat("whiteout '", basename, "' does not name a file"));
  }
  return hidden;
}

ParentState InspectParents(const std::string& root, const std::vector<std::string>& comps) {
  std::string path = root;
  for (size_t i = 0; i + 1 < comps.size(); ++i) {
    path += "/";
    path += comps[i];
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) return ParentState::kMissing;
    if (S_ISLNK(st.st_mode)) return ParentState::kSymlink;
    if (!S_ISDIR(st.st_mode)) return ParentState::kNotDir;
  }
  return ParentState::kDirs;
}

absl::Status CheckParents(const std::string& root, const std::vector<std::string>& comps,
                          const std::string& entry_name) {
  switch (InspectParents(root, comps)) {
    case ParentState::kDirs:
    case ParentState::kMissing:
      return absl::OkStatus();
    case ParentState::kSymlink:
      return absl::FailedPreconditionError(absl::StrCat(
          "layer entry '", entry_name, "' lies under a symlink; refusing to follow it"));
    case ParentState::kNotDir:
      return absl::FailedPreconditionError(
          absl::StrCat("layer entry '", entry_name, "' lies under a non-directory"));
  }
  return absl::InternalError("unreachable");
}

}  // namespace osgv::layer
