#include "cli/run/run_options.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "capabilities/image_reference.h"
#include "cli/cli_args.h"
#include "lifecycle/bundle/host_mounts.h"
#include "lifecycle/image/busybox_image.h"

namespace osgv {
namespace {

absl::Status Usage(const std::string& why) { return absl::InvalidArgumentError(why); }

// The flags `run` and `probe` share. --mount is checked against the host
// here; for `probe` it weakens every probe sandbox on purpose.
absl::StatusOr<RunOptions> FromParsed(const ParsedArgs& a) {
  RunOptions o;
  o.image = a.Get("image").value_or("");
  o.network = a.Get("network").value_or("none");
  if (o.network != "none" && o.network != "sandbox") {
    return Usage(absl::StrCat("--network: must be none or sandbox (got '", o.network, "')"));
  }
  o.state_dir = a.Get("state-dir").value_or("");
  if (!o.state_dir.empty() && o.state_dir.front() != '/') {
    return Usage("--state-dir: must be an absolute path");
  }
  o.config_file = a.Get("config").value_or("");
  for (const auto& spec : a.GetAll("mount")) {
    auto m = ParseMountSpec(spec);
    if (!m.ok()) return m.status();
    if (auto st = CheckHostMount(absl::StrCat("--mount '", spec, "'"), *m); !st.ok()) return st;
    o.mounts.push_back(*m);
  }
  return o;
}

}  // namespace

absl::StatusOr<HostMount> ParseMountSpec(const std::string& spec) {
  std::vector<std::string> parts = absl::StrSplit(spec, ':');
  HostMount m;
  if (parts.size() == 3) {
    if (parts[2] != "ro" && parts[2] != "rw") {
      return Usage(absl::StrCat("--mount '", spec, "': the option must be ro or rw"));
    }
    m.read_only = parts[2] == "ro";
  } else if (parts.size() != 2) {
    return Usage(absl::StrCat("--mount '", spec, "': expected HOST:SANDBOX[:ro]"));
  }
  m.source = parts[0];
  m.destination = parts[1];
  if (m.source.empty() || m.source.front() != '/') {
    return Usage(absl::StrCat("--mount '", spec, "': HOST must be an absolute path"));
  }
  if (m.destination.empty() || m.destination.front() != '/') {
    return Usage(absl::StrCat("--mount '", spec, "': SANDBOX must be an absolute path"));
  }
  return m;
}

absl::StatusOr<RunOptions> ParseRunArgs(const std::vector<std::string>& args) {
  auto a = ParseArgs(args, {"image", "network", "memory", "cpu", "env", "mount", "state-dir", "config"},
                     {"keep"});
  if (!a.ok()) return a.status();
  if (!a->positional.empty()) {
    return Usage(absl::StrCat("unexpected argument '", a->positional[0], "' (put CMD after --)"));
  }
  if (!a->has_rest || a->rest.empty()) return Usage("missing -- CMD...");
  auto o = FromParsed(*a);
  if (!o.ok()) return o.status();
  o->memory = a->Get("memory").value_or("");
  o->cpu = a->Get("cpu").value_or("");
  o->keep = a->Has("keep");
  o->command = a->rest;
  for (const auto& kv : a->GetAll("env")) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Usage(absl::StrCat("--env '", kv, "': expected KEY=VALUE"));
    }
    o->env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return o;
}

absl::StatusOr<RunOptions> ParseProbeArgs(const std::vector<std::string>& args) {
  auto a = ParseArgs(args, {"image", "network", "mount", "fixtures-dir", "state-dir", "config"},
                     {"json"});
  if (!a.ok()) return a.status();
  if (!a->positional.empty() || a->has_rest) return Usage("probe takes no command");
  auto o = FromParsed(*a);
  if (!o.ok()) return o.status();
  o->json = a->Has("json");
  o->fixtures_dir = a->Get("fixtures-dir").value_or("");
  if (!o->fixtures_dir.empty() && o->fixtures_dir.front() != '/') {
    return Usage("--fixtures-dir: must be an absolute path");
  }
  return o;
}

absl::StatusOr<Config> RunConfig(const RunOptions& options, const std::string& state_dir) {
  Config config;
  if (!options.config_file.empty()) {
    auto loaded = LoadConfigFile(options.config_file);
    if (!loaded.ok()) return loaded.status();
    config = *loaded;
  }
  config.state_dir = state_dir;
  config.network.mode = ParseNetworkMode(options.network).value_or(NetworkMode::kNone);
  // The operator named this image on the command line: let the sandbox
  // (validated like any request) use it, in memory only. Without --image
  // it is the busybox image built under the default image cache.
  auto image = ParseImageReference(options.image);
  if (options.image.empty()) {
    config.images.oci_roots.push_back(kDefaultImageCacheDir);
  } else if (image.ok() && !image->is_registry()) {
    config.images.oci_roots.push_back(image->layout_dir);
  }
  // An ephemeral sandbox runs the user's command, never the supervisor.
  config.supervisor.binary.clear();
  return config;
}

SandboxRequest EphemeralRequest(const RunOptions& options, const std::string& name,
                                const std::string& image, std::vector<std::string> init) {
  SandboxRequest r;
  r.id = name;
  r.name = name;
  r.workspace = "default";
  r.spec.tmpl.image = image;
  r.spec.command = std::move(init);
  r.spec.environment = options.env;
  r.spec.host_mounts = options.mounts;
  if (!options.memory.empty() || !options.cpu.empty()) {
    ResourceRequirements res;
    res.memory_limit = options.memory;
    res.cpu_limit = options.cpu;
    r.spec.tmpl.resources = res;
  }
  return r;
}

}  // namespace osgv
