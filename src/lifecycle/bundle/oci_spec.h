// Builds the OCI runtime spec (config.json) runsc boots a sandbox from.
//
// Precedence, lowest first: the image config (Env, WorkingDir, User,
// Entrypoint/Cmd), then the template environment, then the spec environment
// (spec wins), then spec.command when given. Labels become annotations; the
// hostname is the sandbox name; there is no restart policy anywhere.
#pragma once

#include <cstdint>
#include <map>
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

struct SpecInputs {
  const SandboxRequest* request = nullptr;
  const ImageConfig* image = nullptr;
  ResolvedUser user;
  std::string cgroups_path;         // absolute, e.g. /openshell-gvisor/<runsc id>
  uint64_t memory_limit_bytes = 0;  // 0 = none
  uint64_t cpu_limit_millis = 0;    // 0 = none
  uint64_t pids_limit = 0;          // 0 = none
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

// Resolves an image `User` ("", "uid", "uid:gid", "name", "name:group")
// against the image's own /etc/passwd and /etc/group under `rootfs`.
absl::StatusOr<ResolvedUser> ResolveImageUser(const std::string& user, const std::string& rootfs);

}  // namespace osgv
