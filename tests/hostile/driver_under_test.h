// The real gRPC service of the driver, served on a Unix socket the way
// `serve` does it (BindDriverSocket, SocketServer, AddInsecureChannelFromFd),
// over a SandboxManager with a real StateStore in a real temp state dir and
// the unit-test fakes for everything that needs root (runsc, monitors,
// mounts). No image puller: a registry image fails to provision at once,
// which is all a sandbox that merely has to exist needs.
//
// Also captures everything the driver logs, so a test can check that no
// secret reached a log line.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "compute_driver.grpc.pb.h"
#include "driver/compute_driver_service.h"
#include "driver/ryno_service.h"
#include "driver/socket_server.h"
#include "lifecycle/image/image_store.h"
#include "lifecycle/monitor/exit_watcher.h"
#include "lifecycle/sandbox_manager.h"
#include "lifecycle/store/state_store.h"
#include "unit/manager_fakes.h"
#include "unit/temp_dir.h"

namespace spdlog {
class logger;
}

namespace osgv::testing {

class CapturingSink;
namespace pb = ::openshell::compute::v1;

// The token every request of the hostile suite carries: it must never come
// back in a status message or reach a log line.
inline constexpr char kSecretToken[] = "hostile-suite-secret-token-7f3a9c";

class DriverUnderTest {
 public:
  DriverUnderTest();
  ~DriverUnderTest();
  DriverUnderTest(const DriverUnderTest&) = delete;
  DriverUnderTest& operator=(const DriverUnderTest&) = delete;

  // A new connection (channel) to the driver's socket.
  std::unique_ptr<pb::ComputeDriver::Stub> Connect() const;
  // The same socket, through the Ryno gateway's service name.
  std::unique_ptr<::ryno::compute::v1::ComputeDriver::Stub> ConnectRyno() const;

  // Creates the sandbox `id`/`name` in workspace "dev" (registry image) and
  // waits until its provisioning has failed and published its last event,
  // so that nothing runs in the background afterwards.
  void CreateSettled(const std::string& id, const std::string& name);

  const StateLayout& layout() const { return layout_; }
  const std::string& checkpoint_dir() const { return checkpoint_dir_; }
  StateStore& store() { return *store_; }
  // The runsc id of an existing sandbox.
  std::string RunscIdOf(const std::string& id);
  // Everything logged since construction.
  std::string Logs() const;

 private:
  TempDir tmp_;
  StateLayout layout_;
  std::string checkpoint_dir_;
  std::unique_ptr<StateStore> store_;
  HookedRunner runner_;
  std::unique_ptr<Runsc> runsc_;
  std::unique_ptr<ImageStore> images_;
  FakeMounter mounter_;
  FakeMonitorLauncher launcher_;
  ExitWatcher exits_;
  EventBus bus_{4096};
  std::unique_ptr<EventLog> events_;
  std::unique_ptr<SandboxManager> manager_;
  std::unique_ptr<ComputeDriverService> service_;
  std::unique_ptr<RynoComputeDriverService> ryno_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<SocketServer> socket_;
  std::string socket_path_;
  std::shared_ptr<CapturingSink> log_sink_;
  std::shared_ptr<spdlog::logger> previous_logger_;
};

}  // namespace osgv::testing
