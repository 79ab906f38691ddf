#include "hostile/state_fingerprint.h"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lifecycle/image/digest.h"

namespace osgv::testing {
namespace {

namespace fs = std::filesystem;

std::string Describe(const std::string& path, bool* is_dir) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return "vanished";
  *is_dir = S_ISDIR(st.st_mode);
  std::string mode = absl::StrCat("mode=", st.st_mode & 07777, " uid=", st.st_uid);
  if (S_ISDIR(st.st_mode)) return absl::StrCat("dir ", mode);
  if (S_ISLNK(st.st_mode)) {
    std::error_code ec;
    return absl::StrCat("symlink ", mode, " -> ", fs::read_symlink(path, ec).string());
  }
  if (!S_ISREG(st.st_mode)) return absl::StrCat("special ", mode, " type=", st.st_mode & S_IFMT);
  auto digest = Sha256File(path);
  return absl::StrCat("file ", mode, " size=", st.st_size, " ",
                      digest.ok() ? *digest : std::string(digest.status().message()));
}

void Walk(const std::string& root, const std::string& rel, Fingerprint* out) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root + rel, ec)) {
    std::string child = rel + "/" + entry.path().filename().string();
    bool is_dir = false;
    (*out)[child] = Describe(root + child, &is_dir);
    if (is_dir) Walk(root, child, out);
  }
  if (ec) (*out)[rel + "/"] = absl::StrCat("unreadable: ", ec.message());
}

bool IsWalIndex(const std::string& path) { return absl::EndsWith(path, ".db-shm"); }

// "file mode=... size=N sha256:..." without size and digest.
std::string WithoutContent(const std::string& what) { return what.substr(0, what.find(" size=")); }

}  // namespace

bool WalIndexContentChanged(const Fingerprint& before, const Fingerprint& after) {
  for (const auto& [path, what] : before) {
    auto it = after.find(path);
    if (IsWalIndex(path) && it != after.end() && it->second != what) return true;
  }
  return false;
}

Fingerprint FingerprintTree(const std::string& root) {
  Fingerprint out;
  bool is_dir = false;
  out["."] = Describe(root, &is_dir);
  if (is_dir) Walk(root, "", &out);
  return out;
}

std::vector<SandboxRecord> Records(StateStore& store) {
  auto records = store.List();
  REQUIRE(records.ok());
  return *records;
}

std::vector<std::string> ChangedPaths(const Fingerprint& before, const Fingerprint& after) {
  std::vector<std::string> changed;
  for (const auto& [path, what] : before) {
    auto it = after.find(path);
    if (it == after.end()) {
      changed.push_back(absl::StrCat("removed ", path));
    } else if (IsWalIndex(path) ? WithoutContent(it->second) != WithoutContent(what)
                                : it->second != what) {
      changed.push_back(absl::StrCat("changed ", path));
    }
  }
  for (const auto& [path, what] : after) {
    if (!before.count(path)) changed.push_back(absl::StrCat("added ", path));
  }
  return changed;
}

}  // namespace osgv::testing
