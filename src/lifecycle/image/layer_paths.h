// Names of entries inside an OCI layer tarball and how they map onto the
// directory a layer is applied to. Private to layer_unpack.cc; split out so
// the path rules (the security-relevant part) read on their own.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace osgv::layer {

// "./usr//bin/" -> {"usr", "bin"}; ".", "./" or "/" -> {} (the target).
// Leading slashes are relative to the target, as containerd and umoci treat
// them ("/bin/sh" -> {"bin", "sh"}). ".." components are rejected rather
// than cleaned up: a layer that contains them was built to escape.
absl::StatusOr<std::vector<std::string>> SplitEntryName(const std::string& name);

// The target-relative path "a/b/c" as a path under `root`.
std::string JoinUnder(const std::string& root, const std::vector<std::string>& comps);

// OCI whiteout markers, classified by an entry's last path component.
enum class Whiteout {
  kNone,    // an ordinary entry
  kFile,    // ".wh.<name>": delete <name> from lower layers
  kOpaque,  // ".wh..wh..opq": drop the directory's lower-layer contents
  kMeta,    // other ".wh..wh.*" (aufs bookkeeping): ignored, never written
};
Whiteout ClassifyWhiteout(const std::string& basename);
// For kFile: the name the marker hides (".wh.foo" -> "foo"). A marker
// naming "", "." or ".." would delete a parent, so it is rejected.
absl::StatusOr<std::string> WhiteoutTarget(const std::string& basename);

// What stands on the way from `root` to the entry's parent directory,
// inspected with lstat so no symlink is ever followed.
enum class ParentState {
  kDirs,     // every parent exists and is a real directory
  kMissing,  // a parent is absent (libarchive will create it)
  kSymlink,  // a parent is a symlink: following it could leave `root`
  kNotDir,   // a parent is a file, fifo, ...
};
ParentState InspectParents(const std::string& root, const std::vector<std::string>& comps);

// OK when the entry can be created without passing through a symlink or a
// non-directory; otherwise FAILED_PRECONDITION naming `entry_name`.
absl::Status CheckParents(const std::string& root, const std::vector<std::string>& comps,
                          const std::string& entry_name);

}  // namespace osgv::layer
