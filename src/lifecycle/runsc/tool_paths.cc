#include "lifecycle/runsc/tool_paths.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace osgv {
namespace {

bool IsExecutableFile(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), X_OK) == 0;
}

// The variables a tool may need from the driver's environment (see the
// header); nothing else is passed on.
constexpr const char* kPassedOn[] = {
    "HOME",       "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "TMPDIR",   "http_proxy",
    "https_proxy", "no_proxy",       "HTTP_PROXY",      "HTTPS_PROXY", "NO_PROXY",
};

}  // namespace

absl::StatusOr<std::string> ResolveTool(const std::string& key, const std::string& configured) {
  if (configured.empty()) return absl::InvalidArgumentError(absl::StrCat(key, ": empty"));
  if (configured[0] == '/') return configured;
  if (configured.find('/') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        key, ": relative path '", configured,
        "' refused; give an absolute path, or a bare name to look up in ", kToolSearchPath));
  }
  for (absl::string_view dir : absl::StrSplit(kToolSearchPath, ':')) {
    std::string candidate = absl::StrCat(dir, "/", configured);
    if (IsExecutableFile(candidate)) return candidate;
  }
  return absl::NotFoundError(
      absl::StrCat(key, ": '", configured, "' not found in ", kToolSearchPath));
}

const std::vector<std::string>& ToolEnvironment() {
  static const std::vector<std::string> env = [] {
    std::vector<std::string> out = {absl::StrCat("PATH=", kToolSearchPath)};
    for (const char* name : kPassedOn) {
      if (const char* value = std::getenv(name); value != nullptr) {
        out.push_back(absl::StrCat(name, "=", value));
      }
    }
    return out;
  }();
  return env;
}

}  // namespace osgv
