// openshell.compute.v1.ComputeDriver: translates each RPC to the lifecycle
// layer and back. No lifecycle logic lives here.
//
// Unary RPCs use the synchronous API (one pool thread for the length of the
// call, which waits for its sandbox's operation at most until the call's
// deadline: docs/lifecycle.md, "Deadlines"). WatchSandboxes uses
// the callback API, so an idle or slow watcher costs no thread at all.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>

#include "capabilities/capabilities.h"
#include "compute_driver.grpc.pb.h"
#include "driver/proto_convert.h"
#include "lifecycle/sandbox_manager.h"

namespace osgv {

using ComputeDriverBase =
    ::openshell::compute::v1::ComputeDriver::WithCallbackMethod_WatchSandboxes<
        ::openshell::compute::v1::ComputeDriver::Service>;

class ComputeDriverService final : public ComputeDriverBase {
 public:
  ComputeDriverService(SandboxManager* manager, DriverCapabilities capabilities);

  // Until recovery has finished, sandbox RPCs wait (bounded) instead of
  // answering from an incomplete picture. Capabilities answer at once.
  void SetReady();
  // "ip:port" the gateway must also listen on so that networked sandboxes
  // can call it back (GatewayCallbackAddress); "" = no requirement.
  void SetGatewayCallbackAddress(std::string address) { callback_address_ = std::move(address); }

  grpc::Status GetCapabilities(grpc::ServerContext*, const pb::GetCapabilitiesRequest*,
                               pb::GetCapabilitiesResponse*) override;
  grpc::Status GetGatewayListenerRequirements(grpc::ServerContext*,
                                              const pb::GetGatewayListenerRequirementsRequest*,
                                              pb::GetGatewayListenerRequirementsResponse*) override;
  grpc::Status ValidateSandboxCreate(grpc::ServerContext*, const pb::ValidateSandboxCreateRequest*,
                                     pb::ValidateSandboxCreateResponse*) override;
  grpc::Status GetSandbox(grpc::ServerContext*, const pb::GetSandboxRequest*,
                          pb::GetSandboxResponse*) override;
  grpc::Status ListSandboxes(grpc::ServerContext*, const pb::ListSandboxesRequest*,
                             pb::ListSandboxesResponse*) override;
  grpc::Status CreateSandbox(grpc::ServerContext*, const pb::CreateSandboxRequest*,
                             pb::CreateSandboxResponse*) override;
  grpc::Status StopSandbox(grpc::ServerContext*, const pb::StopSandboxRequest*,
                           pb::StopSandboxResponse*) override;
  grpc::Status StartSandbox(grpc::ServerContext*, const pb::StartSandboxRequest*,
                            pb::StartSandboxResponse*) override;
  grpc::Status DeleteSandbox(grpc::ServerContext*, const pb::DeleteSandboxRequest*,
                             pb::DeleteSandboxResponse*) override;
  grpc::Status EnsureWorkspace(grpc::ServerContext*, const pb::EnsureWorkspaceRequest*,
                               pb::EnsureWorkspaceResponse*) override;
  grpc::Status DeleteWorkspace(grpc::ServerContext*, const pb::DeleteWorkspaceRequest*,
                               pb::DeleteWorkspaceResponse*) override;
  grpc::ServerWriteReactor<pb::WatchSandboxesEvent>* WatchSandboxes(
      grpc::CallbackServerContext*, const pb::WatchSandboxesRequest*) override;

 private:
  // Bounded by 60 s and by the call's deadline.
  grpc::Status AwaitReady(std::chrono::system_clock::time_point deadline);
  std::string callback_address_;

  SandboxManager* manager_;
  DriverCapabilities capabilities_;
  std::mutex ready_mu_;
  std::condition_variable ready_cv_;
  bool ready_ = false;
};

}  // namespace osgv
