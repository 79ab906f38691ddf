#include "lifecycle/bundle/bundle_writer.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <utility>

#include "absl/strings/str_cat.h"
#include "lifecycle/bundle/host_mounts.h"
#include "lifecycle/bundle/oci_spec.h"
#include "lifecycle/bundle/sandbox_env.h"
#include "lifecycle/bundle/supervisor_spec.h"
#include "lifecycle/bundle/token_file.h"
#include "lifecycle/bundle/workload_identity.h"
#include "lifecycle/fs_util.h"
#include "lifecycle/runsc/cgroups.h"

namespace osgv {
namespace {

// The first process: the supervisor (which resolves the image's user
// itself, as root), or the request's main process as the workload user.
absl::Status AddProcess(const BundleInputs& in, SpecInputs* spec) {
  const ImageConfig& image = in.image->config;
  if (in.plan->supervised) {
    if (auto st = CheckSupervisorHostFiles(*in.config); !st.ok()) return st;
    SupervisorInputs sin;
    sin.config = in.config;
    sin.request = in.request;
    sin.image = &image;
    sin.token_file = HasTokenFile(in.paths.dir) ? TokenFilePath(in.paths.dir) : "";
    sin.telemetry_enabled = in.telemetry_enabled;
    sin.rootfs_dir = in.image->rootfs_dir;  // fail at create if it lacks bash, ip or nsenter
    auto sup = BuildSupervisorSpec(sin);
    if (!sup.ok()) return sup.status();
    spec->supervisor = std::move(sup->process);
    spec->extra_mounts = std::move(sup->mounts);
    return absl::OkStatus();
  }
  auto user = ResolveWorkloadUser(in.request->spec, image.user, in.image->rootfs_dir);
  if (!user.ok()) return user.status();
  spec->user = *user;
  SandboxEnvInputs ein;
  ein.config = in.config;
  ein.request = in.request;
  ein.image = &image;
  auto env = BuildSandboxEnvironment(ein);
  if (!env.ok()) return env.status();
  spec->env = *std::move(env);
  return absl::OkStatus();
}

absl::StatusOr<nlohmann::json> BuildSpec(const BundleInputs& in) {
  SpecInputs spec;
  spec.request = in.request;
  spec.image = &in.image->config;
  if (auto st = AddProcess(in, &spec); !st.ok()) return st;
  // After the supervisor's mounts: `run --mount` cannot cover them (the
  // reserved-path check refuses their destinations anyway).
  auto host_mounts = HostBindMounts(in.request->spec.host_mounts);
  if (!host_mounts.ok()) return host_mounts.status();
  spec.extra_mounts.insert(spec.extra_mounts.end(), host_mounts->begin(), host_mounts->end());
  spec.cgroups_path = SandboxCgroupPath(in.runsc_id);
  spec.memory_limit_bytes = in.plan->memory_limit_bytes;
  spec.cpu_limit_millis = in.plan->cpu_limit_millis;
  spec.pids_limit = in.plan->pids_limit;
  if (in.net != nullptr) {
    spec.netns_path = in.net->netns_path;
    spec.extra_mounts.push_back({in.net->hosts_path, "/etc/hosts", true});
    spec.extra_mounts.push_back({in.net->resolv_conf_path, "/etc/resolv.conf", true});
  }
  return BuildRuntimeSpec(spec);
}

// overlayfs gives the merged root the upper dir's mode and owner. With
// MakeDirs' 0700 a non-root image USER (which the supervisor requires)
// could not even reach /bin: the image's root decides, as in any runtime.
absl::Status OwnUpperLikeImageRoot(const SandboxPaths& paths, const std::string& image_root) {
  if (auto st = MakeDirs(paths.upper(), 0700); !st.ok()) return st;
  struct stat root;
  if (stat(image_root.c_str(), &root) != 0) return absl::OkStatus();
  if (chown(paths.upper().c_str(), root.st_uid, root.st_gid) != 0 ||
      chmod(paths.upper().c_str(), root.st_mode & 07777) != 0) {
    return absl::InternalError(
        absl::StrCat("sandbox root '", paths.upper(), "': ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status MakeSandboxDirs(const SandboxPaths& paths) {
  // The bundle must be traversable by the sandbox's unprivileged host
  // processes; the sandbox dir above it stays private to root.
  const std::pair<std::string, int> dirs[] = {
      {paths.dir, 0700}, {paths.bundle(), 0711}, {paths.rootfs(), 0755}, {paths.work(), 0700}};
  for (const auto& [dir, mode] : dirs) {
    if (auto st = MakeDirs(dir, mode); !st.ok()) return st;
    chmod(dir.c_str(), mode);  // MakeDirs leaves an existing dir's mode alone
  }
  return absl::OkStatus();
}

absl::Status WriteBundle(const BundleInputs& in) {
  if ((in.net != nullptr) != in.plan->networked) {
    return absl::InternalError(absl::StrCat("sandbox ", in.runsc_id, ": a bundle ",
                                            in.plan->networked ? "without" : "with",
                                            " a network for a sandbox planned otherwise"));
  }
  auto spec = BuildSpec(in);
  if (!spec.ok()) return spec.status();
  if (auto st = MakeSandboxDirs(in.paths); !st.ok()) return st;
  if (auto st = OwnUpperLikeImageRoot(in.paths, in.image->rootfs_dir); !st.ok()) return st;
  return WriteFileReplace(in.paths.bundle_config(), spec->dump(2), 0600);
}

std::optional<bool> LegacyBundleNetworked(const std::string& config_json) {
  auto text = ReadFile(config_json);
  if (!text.ok()) return std::nullopt;
  auto spec = nlohmann::json::parse(*text, nullptr, false);
  if (spec.is_discarded() || !spec.is_object()) return std::nullopt;
  return !SpecNetnsPath(spec).empty();
}

}  // namespace osgv
