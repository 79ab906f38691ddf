#include "lifecycle/image/busybox_image.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "lifecycle/fs_util.h"
#include "lifecycle/image/digest.h"

namespace osgv {
namespace {

namespace fs = std::filesystem;

// Bump when the image content below changes, so old caches are not reused.
constexpr char kRecipeVersion[] = "1";
constexpr auto kUmociTimeout = std::chrono::seconds(120);

absl::Status Run(CommandRunner* runner, std::vector<std::string> argv) {
  Command c;
  c.argv = std::move(argv);
  c.timeout = kUmociTimeout;
  auto r = runner->Run(c);
  if (!r.ok()) return r.status();
  if (!r->ok()) {
    return absl::InternalError(absl::StrCat(c.argv[0], " ", c.argv[1], ": ", r->Describe()));
  }
  return absl::OkStatus();
}

// Every applet as a symlink, so probes and users find the usual tools.
absl::Status WriteRootfs(CommandRunner* runner, const std::string& busybox, const std::string& src) {
  for (const char* dir : {"/bin", "/etc", "/root", "/workdir", "/tmp"}) {
    if (auto st = MakeDirs(src + dir, 0755); !st.ok()) return st;
  }
  chmod((src + "/tmp").c_str(), 01777);
  std::error_code ec;
  fs::copy_file(busybox, src + "/bin/busybox", ec);
  if (ec) return absl::InternalError(absl::StrCat("copy ", busybox, ": ", ec.message()));
  Command list;
  list.argv = {busybox, "--list"};
  list.timeout = std::chrono::seconds(10);
  auto applets = runner->Run(list);
  if (!applets.ok()) return applets.status();
  if (!applets->ok()) return absl::InternalError(absl::StrCat(busybox, " --list: ", applets->Describe()));
  for (absl::string_view applet : absl::StrSplit(applets->stdout_text, '\n', absl::SkipEmpty())) {
    if (applet == "busybox") continue;
    fs::create_symlink("busybox", src + "/bin/" + std::string(applet), ec);
  }
  for (const auto& [path, content] : std::vector<std::pair<std::string, std::string>>{
           {"/etc/passwd", kBusyboxImagePasswd},
           {"/etc/group", "root:x:0:\nosgvtester:x:4242:\n"},
           {"/etc/image-marker", kBusyboxImageMarker}}) {
    if (auto st = WriteFileReplace(src + path, content, 0644); !st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::Status BuildLayout(CommandRunner* runner, const std::string& busybox, const std::string& dir) {
  const std::string src = dir + "/src";
  const std::string image = dir + "/layout";
  if (auto st = WriteRootfs(runner, busybox, src); !st.ok()) return st;
  for (auto argv : std::vector<std::vector<std::string>>{
           {"umoci", "init", "--layout", image},
           {"umoci", "new", "--image", image + ":base"},
           {"umoci", "insert", "--image", image + ":base", src, "/"},
           {"umoci", "config", "--image", image + ":base", "--tag", "v1", "--config.cmd",
            "/bin/sleep", "--config.cmd", "1000000", "--config.env", "PATH=/bin",
            "--config.env", "IMAGE_ONLY=image", "--config.env", "OVERRIDDEN=image",
            "--config.workingdir", "/workdir"}}) {
    if (auto st = Run(runner, std::move(argv)); !st.ok()) return st;
  }
  return RemoveTree(src);
}

}  // namespace

absl::StatusOr<std::string> EnsureBusyboxImage(CommandRunner* runner, const std::string& cache_dir,
                                               const std::string& busybox) {
  auto digest = Sha256File(busybox);
  if (!digest.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the default image needs busybox-static at ", busybox, ": ", digest.status().message()));
  }
  const std::string key = absl::StrCat(kRecipeVersion, "-", digest->substr(7, 16));
  const std::string final_dir = absl::StrCat(cache_dir, "/busybox-", key);
  const std::string ref = absl::StrCat("oci:", final_dir, "/layout:v1");
  if (fs::exists(final_dir + "/layout/index.json")) return ref;

  if (auto st = MakeDirs(cache_dir, 0755); !st.ok()) return st;
  std::string tmpl = cache_dir + "/.build-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp in ", cache_dir, ": ", strerror(errno)));
  }
  chmod(tmpl.c_str(), 0755);
  if (auto st = BuildLayout(runner, busybox, tmpl); !st.ok()) {
    RemoveTree(tmpl).IgnoreError();
    return st;
  }
  if (rename(tmpl.c_str(), final_dir.c_str()) != 0) {
    int e = errno;
    RemoveTree(tmpl).IgnoreError();
    // Another process finished the same build first: use theirs.
    if ((e != EEXIST && e != ENOTEMPTY) || !fs::exists(final_dir + "/layout/index.json")) {
      return absl::InternalError(absl::StrCat("rename into ", final_dir, ": ", strerror(e)));
    }
  }
  return ref;
}

}  // namespace osgv
