// Shared fixtures for the live tests: a busybox OCI image built with umoci,
// the real driver binary on a temporary socket and state dir, and a gRPC
// client generated from our proto.
#pragma once

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "compute_driver.grpc.pb.h"

namespace osgv::live {

namespace pb = ::openshell::compute::v1;

struct CommandOutput {
  int exit_code = -1;
  std::string out;  // stdout and stderr together
};
// Runs argv (no shell), capturing output.
CommandOutput RunCommand(const std::vector<std::string>& argv, const std::string& stdin_text = "");

// A fresh /tmp/osgv-live-<prefix>-XXXXXX, removed by RemoveTempDirs.
std::string MakeTempDir(const std::string& prefix);
// Removes every MakeTempDir directory that has nothing mounted below it;
// the test binary calls it when all tests passed (failures keep evidence).
void RemoveTempDirs();

// A busybox-static OCI layout (EnsureBusyboxImage): /etc/passwd with a
// recognisable entry, a default Cmd, Env and WorkingDir. Built once per test
// binary run, in a temporary cache.
// Returns the `oci:/path:tag` reference.
const std::string& BusyboxImage();

class DriverProcess {
 public:
  // Starts `serve` with a fresh state dir and socket unless given. The
  // config gets images.oci_roots ["/tmp"] added, where the tests' layouts are.
  explicit DriverProcess(std::string state_dir = "", std::string config_yaml = "");
  ~DriverProcess();

  void Start();
  void Kill(int signal);  // and reap
  int Wait();             // exit status
  bool WaitForSocket(std::chrono::milliseconds timeout);

  const std::string& socket_path() const { return socket_; }
  const std::string& state_dir() const { return state_dir_; }
  std::unique_ptr<pb::ComputeDriver::Stub> Stub();
  std::shared_ptr<grpc::Channel> Channel();
  std::string Log() const;  // the driver's stderr so far
  pid_t pid() const { return pid_; }

 private:
  std::string dir_;
  std::string state_dir_;
  std::string socket_;
  std::string config_path_;
  std::string log_path_;
  bool owns_state_ = true;
  pid_t pid_ = -1;
};

pb::DriverSandbox NewSandbox(const std::string& name, const std::vector<std::string>& command = {});

// Polls GetSandbox until `pred` holds or the timeout passes.
std::optional<pb::DriverSandbox> WaitForSandbox(
    pb::ComputeDriver::Stub* stub, const std::string& id,
    const std::function<bool(const pb::DriverSandbox&)>& pred,
    std::chrono::milliseconds timeout = std::chrono::seconds(60));

const pb::DriverCondition* ReadyCondition(const pb::DriverSandbox& s);
bool IsReady(const pb::DriverSandbox& s);
// Polls until the sandbox's Ready condition has `reason` (e.g.
// "ProcessExited", "ImagePullFailed"); nullopt on timeout.
std::optional<pb::DriverSandbox> WaitForReadyReason(
    pb::ComputeDriver::Stub* stub, const std::string& id, const std::string& reason,
    std::chrono::milliseconds timeout = std::chrono::seconds(60));

// `openshell-driver-gvisor exec --state-dir ... SANDBOX -- argv`.
CommandOutput Exec(const DriverProcess& driver, const std::string& sandbox,
                   const std::vector<std::string>& argv);

std::vector<std::string> RunscList(const std::string& state_dir);

// A started driver and a stub to it; the Catch REQUIREs fail the test when
// it does not come up.
struct Driver {
  DriverProcess process;
  std::unique_ptr<pb::ComputeDriver::Stub> stub;
  explicit Driver(std::string state_dir = "", std::string yaml = "");
};

grpc::Status Create(pb::ComputeDriver::Stub* stub, const pb::DriverSandbox& s);
grpc::Status Delete(pb::ComputeDriver::Stub* stub, const std::string& id, bool* deleted);
grpc::Status Stop(pb::ComputeDriver::Stub* stub, const std::string& id);
grpc::Status Start(pb::ComputeDriver::Stub* stub, const std::string& id);
// Waits until Ready=True; fails the test with the condition otherwise.
pb::DriverSandbox WaitReady(pb::ComputeDriver::Stub* stub, const std::string& id);
// The sandbox's Suspended condition, or nullptr.
const pb::DriverCondition* SuspendedCondition(const pb::DriverSandbox& s);
// Waits until Suspended=True (stopped); fails the test otherwise.
pb::DriverSandbox WaitSuspended(pb::ComputeDriver::Stub* stub, const std::string& id);

}  // namespace osgv::live
