// Builds the OCI runtime spec (config.json) runsc boots a sandbox from.
//
// Precedence, lowest first: the image config (Env, WorkingDir, User,
// Entrypoint/Cmd), then the template environment, then the spec environment
// (spec wins), then spec.command when given. Labels become annotations; the
// hostname is the sandbox name; there is no restart policy anywhere.
//
// In supervisor mode (SpecInputs::supervisor, built by supervisor_spec.h) the
// process is the OpenShell supervisor instead, and the main process travels
// in its environment (OPENSHELL_MAIN_PROCESS_SPEC). Everything else (mounts,
// namespaces, cgroups, annotations) is shared by both modes.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "lifecycle/image/image_store.h"
#include "openshell_gvisor/sandbox.h"

namespace osgv {

struct ResolvedUser {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<uint32_t> additional_gids;
};

// A host file or directory bind-mounted into the sandbox.
struct BindMount {
  std::string source;       // absolute host path
  std::string destination;  // absolute in-sandbox path
  bool read_only = true;
};

// The process runsc starts when it is not the request's own main process.
struct ProcessOverride {
  std::vector<std::string> args;
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::string cwd = "/";
  std::vector<std::string> env;  // "KEY=VALUE"
  std::vector<std::string> capabilities;  // bounding = effective = permitted
};

struct SpecInputs {
  const SandboxRequest* request = nullptr;
  const ImageConfig* image = nullptr;
  ResolvedUser user;                // direct mode only
  std::string cgroups_path;         // absolute, e.g. /openshell-gvisor/<runsc id>
  uint64_t memory_limit_bytes = 0;  // 0 = none
  uint64_t cpu_limit_millis = 0;    // 0 = none
  uint64_t pids_limit = 0;          // 0 = none
  // Direct mode: the environment to use instead of MergeEnvironment's
  // (BuildSandboxEnvironment adds the sandbox identity). Unset = merged.
  std::optional<std::vector<std::string>> env;
  // Supervisor mode: replaces args, user, cwd, env and capabilities; `user`
  // and `env` above are then ignored.
  std::optional<ProcessOverride> supervisor;
  // Appended after the default mounts, in order (a later mount covers an
  // earlier one at the same place).
  std::vector<BindMount> extra_mounts;
  // The prepared network namespace runsc scrapes (--network=sandbox);
  // "" = none, the sandbox gets a fresh one with loopback only.
  std::string netns_path;
};

// The environment in precedence order, as "KEY=VALUE" (later keys replace
// earlier ones in place; new keys are appended).
std::vector<std::string> MergeEnvironment(const std::vector<std::string>& image_env,
                                          const std::map<std::string, std::string>& template_env,
                                          const std::map<std::string, std::string>& spec_env);

// The main process argv: spec.command, else Entrypoint + Cmd.
absl::StatusOr<std::vector<std::string>> MainProcessArgs(const SandboxRequest& request,
                                                         const ImageConfig& image);

absl::StatusOr<nlohmann::json> BuildRuntimeSpec(const SpecInputs& in);

// linux.namespaces[type=network].path of a built spec, "" when it has none.
// The bundle is the record of how a sandbox was created: a restore must use
// the same network mode, whatever the configuration says today.
std::string SpecNetnsPath(const nlohmann::json& spec);

// Resolves an image `User` ("", "uid", "uid:gid", "name", "name:group")
// against the image's own /etc/passwd and /etc/group under `rootfs`.
absl::StatusOr<ResolvedUser> ResolveImageUser(const std::string& user, const std::string& rootfs);

}  // namespace osgv
