// `openshell-driver-gvisor serve`: wire the pieces together, recover, serve,
// and on SIGTERM/SIGINT shut down cleanly while the sandboxes keep running.
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "capabilities/capabilities.h"
#include "cli/cli_args.h"
#include "cli/commands.h"
#include "cli/driver_config.h"
#include "cli/driver_runtime.h"
#include "cli/logging.h"
#include "driver/compute_driver_service.h"
#include "driver/driver_health.h"
#include "driver/ryno_service.h"
#include "driver/socket_server.h"
#include "lifecycle/bundle/supervisor_spec.h"
#include "lifecycle/sandbox_manager.h"

namespace osgv {
namespace {

constexpr char kServiceName[] = "openshell.compute.v1.ComputeDriver";

void WarnAboutMissingFeatures(const RunscFeatures& f) {
  spdlog::info("runsc {} detected", f.version.empty() ? "(unknown version)" : f.version);
  for (const char* flag : {"overlay2", "net-disconnect-ok"}) {
    if (!f.Has(flag)) {
      spdlog::warn("runsc lacks --{}: install runsc from bookworm-backports (scripts/install-deps.sh);"
                   " features that need it will be refused", flag);
    }
  }
}

int Fatal(const std::string& message) {
  spdlog::critical("{}", message);
  return 1;
}

}  // namespace

constexpr char kServeUsage[] =
    "usage: serve --socket PATH --state-dir DIR [--config FILE] [--driver-name NAME]\n"
    "             [--log-level LEVEL] [--log-format text|json] [--check-config]\n"
    "Serves openshell.compute.v1.ComputeDriver (and ryno.compute.v1.ComputeDriver) on the\n"
    "Unix socket PATH until SIGTERM or SIGINT. --check-config prints the effective\n"
    "configuration and exits: 0 valid, 1 invalid (docs/configuration.md).\n";

int ServeCommand(const std::vector<std::string>& argv) {
  if (AsksForHelp(argv)) {
    std::cout << kServeUsage;
    return 0;
  }
  auto args = ParseArgs(argv, {"socket", "state-dir", "config", "driver-name", "log-level", "log-format"},
                        {"check-config"});
  if (!args.ok()) {
    std::cerr << "serve: " << args.status().message() << "\n";
    return 2;
  }
  auto config = ConfigFromArgs(*args);
  absl::Status valid = config.ok() ? ValidateConfig(*config) : config.status();
  if (args->Has("check-config")) {
    if (!valid.ok()) {
      std::cerr << "config error: " << valid.message() << "\n";
      return 1;
    }
    std::cout << RenderConfig(*config);
    return 0;
  }
  if (!valid.ok()) {
    std::cerr << "config error: " << valid.message() << "\n";
    return 1;
  }
  if (auto s = SetupLogging(config->log); !s.ok()) return Fatal(std::string(s.message()));
  // A typo in a supervisor or TLS path fails now, not at the first create.
  if (auto s = CheckSupervisorHostFiles(*config); !s.ok()) return Fatal(std::string(s.message()));
  if (geteuid() != 0) return Fatal("serve must run as root: runsc needs it to create sandboxes");

  // Signals are taken by sigwait() below, never by a random thread.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto rt = OpenDriverRuntime(*config, /*with_metrics=*/true);
  if (!rt.ok()) return Fatal(std::string(rt.status().message()));
  WarnAboutMissingFeatures((*rt)->features);
  auto callback = GatewayCallbackAddress(*config);
  if (!callback.ok()) return Fatal(std::string(callback.status().message()));
  SandboxManager& manager = *(*rt)->manager;
  ComputeDriverService service(&manager, CapabilitiesOf(*config, (*rt)->features.version));
  service.SetGatewayCallbackAddress(*callback);
  // The Ryno gateway's service name for the same contract, on the same socket.
  RynoComputeDriverService ryno_service(&service);

  auto listen_fd = BindDriverSocket(config->socket);
  if (!listen_fd.ok()) return Fatal(std::string(listen_fd.status().message()));

  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.RegisterService(&service);
  builder.RegisterService(&ryno_service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server) return Fatal("cannot start the gRPC server");
  DriverHealth health(server->GetHealthCheckService(), kServiceName);
  // A failed state commit turns health NOT_SERVING for good (LevelDB's
  // bg_error); `health` outlives the manager (rt is reset below).
  manager.OnBackgroundError([&health](const absl::Status& e) { health.SetBackgroundError(e); });

  std::set<uint32_t> allowed(config->socket.allowed_uids.begin(), config->socket.allowed_uids.end());
  if (allowed.empty()) allowed.insert(geteuid());
  SocketServer socket_server(*listen_fd, config->socket.path, allowed);
  socket_server.Start(server.get());
  spdlog::info("listening on {} (driver '{}', state dir {})", config->socket.path,
               config->driver_name, config->state_dir);

  if (auto s = manager.Recover(); !s.ok()) {
    manager.OnBackgroundError(nullptr);  // `health` goes before the manager
    socket_server.Stop();
    server->Shutdown();
    return Fatal(absl::StrCat("startup recovery failed: ", s.message()));
  }
  if (DriverMetrics* metrics = (*rt)->metrics.get()) {
    // After recovery, which loads the records without publishing them:
    // Watch lists them and subscribes in one step.
    WatchStart watch = manager.Watch();
    metrics->sandboxes().Follow(std::move(watch.subscription), watch.snapshots);
  }
  manager.StartIdleSuspend();
  service.SetReady();
  health.SetReady(true);
  spdlog::info(health.serving() ? "serving" : "serving, but NOT_SERVING to health checks: a state "
                                              "commit failed");

  int sig = 0;
  sigwait(&stop_signals, &sig);
  spdlog::info("received {}; shutting down (sandboxes keep running)", strsignal(sig));
  health.SetReady(false);
  socket_server.Stop();
  (*rt)->events->CloseAll();  // Watch streams end with OK
  // The whole bound (kShutdownBound, 10 s) is the manager's: the RPCs in
  // flight wait for its operations, and it answers every one of them by
  // the end, so the server then has nothing left to wait for.
  const bool finished = manager.Shutdown();
  server->Shutdown(std::chrono::system_clock::now());
  if (!finished) {
    // An operation is stuck outside any command: its thread cannot be
    // joined, so exit without destructors, as a crash would; recovery at
    // the next start finishes or rolls it back.
    spdlog::error("stopped with an operation unfinished");
    spdlog::shutdown();
    std::_Exit(0);
  }
  rt->reset();  // manager, exit watcher, lock
  spdlog::info("stopped");
  return 0;
}

}  // namespace osgv
