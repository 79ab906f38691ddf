// ryno.compute.v1.ComputeDriver: the Ryno gateway's name for the same
// contract (gateway-contract-v01.md §2.3), served on the same socket.
// Each call is re-encoded into the OpenShell superset and answered by
// ComputeDriverService as a Ryno-generation call; nothing is decided here.
#pragma once

#include "driver/compute_driver_service.h"
#include "ryno/compute_driver.grpc.pb.h"

namespace osgv {

namespace ryno_pb = ::ryno::compute::v1;

using RynoComputeDriverBase = ryno_pb::ComputeDriver::WithCallbackMethod_WatchSandboxes<
    ryno_pb::ComputeDriver::Service>;

class RynoComputeDriverService final : public RynoComputeDriverBase {
 public:
  explicit RynoComputeDriverService(ComputeDriverService* openshell) : openshell_(openshell) {}

  grpc::Status GetCapabilities(grpc::ServerContext*, const ryno_pb::GetCapabilitiesRequest*,
                               ryno_pb::GetCapabilitiesResponse*) override;
  grpc::Status AuthenticateSandbox(grpc::ServerContext*, const ryno_pb::AuthenticateSandboxRequest*,
                                   ryno_pb::AuthenticateSandboxResponse*) override;
  grpc::Status ValidateSandboxCreate(grpc::ServerContext*,
                                     const ryno_pb::ValidateSandboxCreateRequest*,
                                     ryno_pb::ValidateSandboxCreateResponse*) override;
  grpc::Status GetSandbox(grpc::ServerContext*, const ryno_pb::GetSandboxRequest*,
                          ryno_pb::GetSandboxResponse*) override;
  grpc::Status ListSandboxes(grpc::ServerContext*, const ryno_pb::ListSandboxesRequest*,
                             ryno_pb::ListSandboxesResponse*) override;
  grpc::Status CreateSandbox(grpc::ServerContext*, const ryno_pb::CreateSandboxRequest*,
                             ryno_pb::CreateSandboxResponse*) override;
  grpc::Status StopSandbox(grpc::ServerContext*, const ryno_pb::StopSandboxRequest*,
                           ryno_pb::StopSandboxResponse*) override;
  grpc::Status StartSandbox(grpc::ServerContext*, const ryno_pb::StartSandboxRequest*,
                            ryno_pb::StartSandboxResponse*) override;
  grpc::Status DeleteSandbox(grpc::ServerContext*, const ryno_pb::DeleteSandboxRequest*,
                             ryno_pb::DeleteSandboxResponse*) override;
  grpc::Status EnsureWorkspace(grpc::ServerContext*, const ryno_pb::EnsureWorkspaceRequest*,
                               ryno_pb::EnsureWorkspaceResponse*) override;
  grpc::Status DeleteWorkspace(grpc::ServerContext*, const ryno_pb::DeleteWorkspaceRequest*,
                               ryno_pb::DeleteWorkspaceResponse*) override;
  grpc::ServerWriteReactor<ryno_pb::WatchSandboxesEvent>* WatchSandboxes(
      grpc::CallbackServerContext*, const ryno_pb::WatchSandboxesRequest*) override;

 private:
  ComputeDriverService* openshell_;
};

}  // namespace osgv
