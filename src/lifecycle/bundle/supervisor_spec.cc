#include "lifecycle/bundle/supervisor_spec.h"

#include <sys/stat.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "capabilities/quantity.h"
#include "lifecycle/bundle/reserved_paths.h"
#include "lifecycle/bundle/sandbox_env.h"
#include "lifecycle/bundle/supervisor_needs.h"

namespace osgv {
namespace {

absl::Status Precondition(const std::string& key, const std::string& why) {
  return absl::FailedPreconditionError(absl::StrCat(key, ": ", why));
}

absl::Status CheckConfig(const Config& config) {
  if (config.supervisor.binary.empty()) {
    return Precondition("supervisor.binary", "not set, so no supervisor can be started");
  }
  if (config.gateway.endpoint.empty()) {
    // The supervisor's first step is fetching its policy from the gateway;
    // without an endpoint it exits and the sandbox dies (§6.6 step 2).
    return Precondition("gateway.endpoint", "required when supervisor.binary is set");
  }
  const GatewayConfig& g = config.gateway;
  bool any_tls = !g.tls_ca.empty() || !g.tls_cert.empty() || !g.tls_key.empty();
  if (any_tls && !GatewayTlsConfigured(g)) {
    return Precondition("gateway.tls_ca",
                        "gateway.tls_ca, gateway.tls_cert and gateway.tls_key must be set "
                        "together (the supervisor needs all three for https://)");
  }
  if (auto st = CheckNotReserved("supervisor.workdir", config.supervisor.workdir); !st.ok()) {
    return absl::FailedPreconditionError(st.message());
  }
  for (const auto& arg : config.supervisor.extra_args) {
    if (arg == "--") {
      return Precondition("supervisor.extra_args",
                          "must not contain '--': what follows it would be a positional "
                          "command, which overrides OPENSHELL_MAIN_PROCESS_SPEC");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckRegularFile(const std::string& key, const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return Precondition(key, absl::StrCat(QuoteForMessage(path), " does not exist or cannot be "
                                                                 "reached"));
  }
  if (!S_ISREG(st.st_mode)) {
    return Precondition(key, absl::StrCat(QuoteForMessage(path), " is not a regular file"));
  }
  return absl::OkStatus();
}

// A dynamically linked supervisor fails inside the sandbox with a bare
// "no such file or directory" (the image has no such loader) or, worse,
// runs against whatever libraries the image carries. Upstream ships it
// static for that reason.
// A "#!" script: a stand-in for the supervisor (the live tests use one).
// It runs on the image's interpreter, which is the operator's choice, and
// needs none of the upstream supervisor's tools.
bool IsScript(const std::string& binary) {
  char head[2] = {0, 0};
  std::ifstream in(binary, std::ios::binary);
  return in.read(head, 2) && head[0] == '#' && head[1] == '!';
}

// Anything else that is not ELF cannot run.
absl::Status CheckStatic(const std::string& binary) {
  if (IsScript(binary)) return absl::OkStatus();
  auto interp = ElfInterpreter(binary);
  if (!interp.ok()) {
    return Precondition("supervisor.binary", std::string(interp.status().message()));
  }
  if (!interp->empty()) {
    return Precondition("supervisor.binary",
                        absl::StrCat(QuoteForMessage(binary), " is dynamically linked (program "
                                     "interpreter ", QuoteForMessage(*interp), "); it runs "
                                     "inside arbitrary images, so it must be a static "
                                     "executable (upstream builds it for musl, or glibc with "
                                     "+crt-static)"));
  }
  return absl::OkStatus();
}

}  // namespace

bool SupervisorEnabled(const Config& config) { return !config.supervisor.binary.empty(); }

const std::vector<std::string>& SupervisorCapabilities() {
  // gVisor's sentry, not these bits, is the boundary to the host: each
  // capability acts on gVisor's kernel, never on the host's. The supervisor
  // drops them all for the workload (it clears the bounding set, then
  // setresuid to the sandbox user).
  static const std::vector<std::string> caps = {
      // Upstream's supervisor set (§6.5; purposes as upstream Podman's
      // container.rs comments them):
      "CAP_SYS_ADMIN",        // netns creation (`ip netns add` mounts), seccomp set-up
      "CAP_NET_ADMIN",        // veth pair, addresses and routes of the workload netns
      "CAP_SYS_PTRACE",       // /proc/<pid>/exe and the ancestor walk that bind each
                              // outbound connection to the binary that made it
      "CAP_SYSLOG",           // the bypass monitor reads the kernel log (dmesg)
      "CAP_SETUID",           // setresuid to the sandbox user before exec
      "CAP_SETGID",           // setgroups/setresgid to the sandbox group
      "CAP_SETPCAP",          // clears the workload's bounding set before exec
      "CAP_CHOWN",            // chowns the workdir and read_write paths to the sandbox user
      "CAP_FOWNER",           // chmod/chown of pre-existing files owned by another user
      "CAP_DAC_READ_SEARCH",  // /proc/<pid>/fd of the sandbox user's processes
                              // (dr-x------) for the same process identity
      // Docker's defaults, which upstream Docker keeps for the supervisor and
      // root tools (busybox, iproute2, an SSH session before the drop) expect:
      "CAP_DAC_OVERRIDE",      // root writes files it does not own (e.g. 0444 files)
      "CAP_FSETID",            // keeps setuid/setgid bits when root edits such files
      "CAP_KILL",              // signals processes that run as the sandbox user
      "CAP_NET_RAW",           // ping and raw sockets; runsc drops it without --net-raw
      "CAP_NET_BIND_SERVICE",  // binding ports below 1024
      "CAP_MKNOD",             // device nodes some images create at start-up
      "CAP_AUDIT_WRITE",       // su/login-style tools that write audit records
      "CAP_SYS_CHROOT",        // tools that chroot (package scripts, sshd-like helpers)
  };
  return caps;
}

std::vector<std::string> SupervisorArgs(const SupervisorConfig& supervisor) {
  std::vector<std::string> args = {kSupervisorBinaryPath, "--workdir", supervisor.workdir};
  args.insert(args.end(), supervisor.extra_args.begin(), supervisor.extra_args.end());
  return args;
}

absl::StatusOr<SupervisorSpec> BuildSupervisorSpec(const SupervisorInputs& in) {
  const Config& config = *in.config;
  if (auto st = CheckConfig(config); !st.ok()) return st;

  SandboxEnvInputs env_in;
  env_in.config = in.config;
  env_in.request = in.request;
  env_in.image = in.image;
  env_in.supervisor = true;
  env_in.token_file = !in.token_file.empty();
  env_in.telemetry_enabled = in.telemetry_enabled;
  auto env = BuildSandboxEnvironment(env_in);
  if (!env.ok()) return env.status();
  if (!in.rootfs_dir.empty() && !IsScript(config.supervisor.binary)) {
    auto command = MainProcessArgs(*in.request, *in.image);
    if (!command.ok()) return command.status();
    if (auto st = CheckImageForSupervisor(in.rootfs_dir, in.request->spec.tmpl.image,
                                          command->empty() ? "" : command->front());
        !st.ok()) {
      return st;
    }
  }

  SupervisorSpec out;
  out.process.args = SupervisorArgs(config.supervisor);
  out.process.uid = 0;  // root: netns, chown, setuid all need it (§6.5)
  out.process.gid = 0;
  out.process.cwd = "/";
  out.process.env = *std::move(env);
  out.process.capabilities = SupervisorCapabilities();

  out.mounts.push_back({config.supervisor.binary, kSupervisorBinaryPath, true});
  if (!in.token_file.empty()) out.mounts.push_back({in.token_file, kSandboxTokenPath, true});
  if (GatewayTlsConfigured(config.gateway)) {
    out.mounts.push_back({config.gateway.tls_ca, kTlsCaPath, true});
    out.mounts.push_back({config.gateway.tls_cert, kTlsCertPath, true});
    out.mounts.push_back({config.gateway.tls_key, kTlsKeyPath, true});
  }
  return out;
}

absl::Status CheckSupervisorHostFiles(const Config& config) {
  if (!SupervisorEnabled(config)) return absl::OkStatus();
  if (auto st = CheckRegularFile("supervisor.binary", config.supervisor.binary); !st.ok()) {
    return st;
  }
  if (auto st = CheckStatic(config.supervisor.binary); !st.ok()) return st;
  const GatewayConfig& g = config.gateway;
  for (const auto& [key, path] : {std::pair<const char*, const std::string*>{"gateway.tls_ca",
                                                                             &g.tls_ca},
                                  {"gateway.tls_cert", &g.tls_cert},
                                  {"gateway.tls_key", &g.tls_key}}) {
    if (path->empty()) continue;
    if (auto st = CheckRegularFile(key, *path); !st.ok()) return st;
  }
  return absl::OkStatus();
}

}  // namespace osgv
