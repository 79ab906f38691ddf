#include "lifecycle/bundle/token_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "lifecycle/fs_util.h"
#include "lifecycle/state_layout.h"

namespace osgv {
namespace {

constexpr char kField[] = "sandbox.spec.sandbox_token";

std::string AuthDir(const std::string& sandbox_dir) { return SandboxPaths{sandbox_dir}.auth_dir(); }

// fs_util's messages name only the path and errno; still, keep the statuses
// we return to the path and code so no future helper can leak content.
absl::Status Scrub(const absl::Status& st, const std::string& token) {
  if (st.ok() || std::string(st.message()).find(token) == std::string::npos) return st;
  return absl::Status(st.code(), "writing the sandbox token file failed");
}

absl::Status UnlinkIfPresent(const std::string& path) {
  if (unlink(path.c_str()) == 0 || errno == ENOENT) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("unlink ", path, ": ", strerror(errno)));
}

}  // namespace

std::string TokenFilePath(const std::string& sandbox_dir) {
  return SandboxPaths{sandbox_dir}.token_file();
}

absl::Status WriteTokenFile(const std::string& sandbox_dir, const std::string& token) {
  if (token.empty()) return absl::InvalidArgumentError(absl::StrCat(kField, ": empty"));
  if (token.find_first_of(std::string("\r\n\0", 3)) != std::string::npos) {
    // The supervisor reads one line; never echo the value.
    return absl::InvalidArgumentError(absl::StrCat(kField, ": must be a single line"));
  }
  const std::string dir = AuthDir(sandbox_dir);
  if (auto st = MakeDirs(dir, 0700); !st.ok()) return Scrub(st, token);
  // MakeDirs leaves an existing directory's mode alone.
  if (chmod(dir.c_str(), 0700) != 0) {
    return absl::InternalError(absl::StrCat("chmod ", dir, ": ", strerror(errno)));
  }
  return Scrub(WriteFileAtomic(TokenFilePath(sandbox_dir), token + "\n", 0600), token);
}

absl::Status RemoveTokenFile(const std::string& sandbox_dir) {
  const std::string path = TokenFilePath(sandbox_dir);
  if (auto st = UnlinkIfPresent(path); !st.ok()) return st;
  if (auto st = UnlinkIfPresent(path + ".tmp"); !st.ok()) return st;
  const std::string dir = AuthDir(sandbox_dir);
  if (rmdir(dir.c_str()) != 0 && errno != ENOENT && errno != ENOTEMPTY && errno != EEXIST) {
    return absl::InternalError(absl::StrCat("rmdir ", dir, ": ", strerror(errno)));
  }
  return absl::OkStatus();
}

bool HasTokenFile(const std::string& sandbox_dir) {
  struct stat st;
  return stat(TokenFilePath(sandbox_dir).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace osgv
