#include "cli/driver_runtime.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <climits>

#include "absl/strings/str_cat.h"
#include "capabilities/validation.h"
#include "lifecycle/fs_util.h"
#include "lifecycle/runsc/tool_paths.h"

namespace osgv {

DriverRuntime::~DriverRuntime() {
  if (events) events->CloseAll();
  if (manager) manager->Shutdown();
  exits.Stop();  // before the manager goes: its exit callbacks call into it
  manager.reset();
  if (lock_fd >= 0) close(lock_fd);
}

std::string SelfExe() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "openshell-driver-gvisor";
}

RunscOptions RunscOptionsFor(const Config& config, const StateLayout& layout) {
  RunscOptions o;
  o.path = config.runsc.path;
  o.root = layout.runsc_root();
  o.platform = config.runsc.platform;
  o.timeout = config.runsc.timeout;
  o.debug_log_dir = config.runsc.debug_log_dir;
  o.direct_checkpoint = config.checkpoint.io == "direct";
  return o;
}

namespace {

// The tools by absolute path, resolved once here (tool_paths.h) so that
// every later exec, the monitors' included, uses the binary named in the
// "tools:" line. skopeo is only needed for registry images: a host without
// it still serves everything else.
absl::Status ResolveTools(Config* config) {
  auto runsc = ResolveTool("runsc.path", config->runsc.path);
  if (!runsc.ok()) return runsc.status();
  config->runsc.path = *runsc;
  auto skopeo = ResolveTool("images.skopeo_path", config->images.skopeo_path);
  if (skopeo.ok()) {
    config->images.skopeo_path = *skopeo;
  } else if (absl::IsNotFound(skopeo.status())) {
    spdlog::warn("{}; registry images cannot be pulled until it is installed",
                 std::string(skopeo.status().message()));
  } else {
    return skopeo.status();
  }
  return absl::OkStatus();
}

absl::Status ResolveNetworkTools(HostNetworkOptions* options) {
  for (auto [key, path] : {std::pair{"network: ip", &options->ip_path},
                           std::pair{"network: nft", &options->nft_path}}) {
    auto resolved = ResolveTool(key, *path);
    if (!resolved.ok()) return resolved.status();
    *path = *resolved;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<DriverRuntime>> OpenDriverRuntime(const Config& given,
                                                                 bool with_metrics) {
  Config config = given;
  if (auto st = ResolveTools(&config); !st.ok()) return st;
  auto rt = std::make_unique<DriverRuntime>();
  rt->layout = StateLayout{config.state_dir};
  const StateLayout& L = rt->layout;
  for (const auto& dir : {L.root, L.runsc_root(), L.images(), L.sandboxes()}) {
    if (auto s = MakeDirs(dir, 0700); !s.ok()) return s;
  }
  auto lock = LockStateDir(L.lock_file());
  if (!lock.ok()) return lock.status();
  rt->lock_fd = *lock;

  auto store = StateStore::Open(L.database());
  if (!store.ok()) return store.status();
  rt->store = *std::move(store);

  CommandRunner* tools = &rt->runner;
  if (with_metrics) {
    auto metrics =
        DriverMetrics::Start(config.metrics, &rt->runner, L.checkpoints(config.checkpoint_dir));
    if (!metrics.ok()) return metrics.status();
    rt->metrics = *std::move(metrics);
    if (rt->metrics) tools = rt->metrics->runner();
  }
  rt->runsc = std::make_unique<Runsc>(tools, RunscOptionsFor(config, L));
  auto features = rt->runsc->Detect();
  if (!features.ok()) return features.status();
  rt->features = *features;

  rt->skopeo = std::make_unique<Skopeo>(tools, SkopeoOptionsFromConfig(config.images));
  rt->images = std::make_unique<ImageStore>(L.images(), rt->skopeo.get(), OciLayoutPolicyFor(config));
  if (rt->metrics) rt->images->SetObserver(rt->metrics->images());
  rt->launcher = std::make_unique<ProcessMonitorLauncher>(SelfExe(), config.runsc.timeout);
  // A failure here only costs the first Launch the monitor's load time.
  if (auto st = rt->launcher->Prime(); !st.ok()) spdlog::warn("warm monitor: {}", st.ToString());
  rt->events = std::make_unique<EventBus>(config.watch.queue_size);
  std::string tools_line =
      absl::StrCat("tools: runsc=", config.runsc.path, " skopeo=", config.images.skopeo_path);
  ManagerDeps deps{config,          L,           rt->store.get(),   rt->runsc.get(),
                   rt->images.get(), &rt->mounter, rt->launcher.get(), &rt->exits,
                   rt->events.get()};
  deps.tools = tools;  // Shutdown kills what still runs near its bound
  if (NetworkEnabled(config)) {
    auto options = HostNetworkOptionsFromConfig(config);
    if (!options.ok()) return options.status();
    if (auto st = ResolveNetworkTools(&*options); !st.ok()) return st;
    tools_line += absl::StrCat(" ip=", options->ip_path, " nft=", options->nft_path);
    rt->network = std::make_unique<HostNetwork>(tools, *std::move(options));
    // Before the driver's socket answers: the gateway binds its callback
    // listener on the bridge address as soon as
    // GetGatewayListenerRequirements returns.
    if (auto st = rt->network->EnsureHost(); !st.ok()) {
      return absl::Status(st.code(), absl::StrCat("network.mode sandbox: ", st.message()));
    }
    deps.network = rt->network.get();
  }
  spdlog::info("{}", tools_line);
  rt->manager = std::make_unique<SandboxManager>(deps);
  return rt;
}

}  // namespace osgv
