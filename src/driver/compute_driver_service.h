// openshell.compute.v1.ComputeDriver: translates each RPC to the lifecycle
// layer and back. No lifecycle logic lives here.
//
// Three gateway generations call it (docs/generations.md): v0.0.x and
// v0.1.x on this service, Ryno through RynoComputeDriverService, which
// relays to the generation-aware methods below. Which generation an
// OpenShell call comes from is decided per call: a v0.1-only field in the
// request, or the last GetCapabilities having carried peer metadata (a
// v0.1.x gateway asks before every Validate, Create and Start) means
// v0.1.x; anything else is the v0.0.x pin. Nothing an older gateway omits
// is ever refused.
//
// Unary RPCs use the synchronous API (one pool thread for the length of the
// call, which waits for its sandbox's operation at most until the call's
// deadline: docs/lifecycle.md, "Deadlines"). WatchSandboxes uses
// the callback API, so an idle or slow watcher costs no thread at all, and
// one opened during recovery holds none either: it starts when recovery
// ends (readiness.h).
#pragma once

#include <atomic>
#include <functional>
#include <string>

#include "capabilities/capabilities.h"
#include "compute_driver.grpc.pb.h"
#include "driver/proto_convert.h"
#include "driver/readiness.h"
#include "driver/watch_reactor.h"
#include "lifecycle/sandbox_manager.h"

namespace osgv {

using ComputeDriverBase =
    ::openshell::compute::v1::ComputeDriver::WithCallbackMethod_WatchSandboxes<
        ::openshell::compute::v1::ComputeDriver::Service>;

class ComputeDriverService final : public ComputeDriverBase {
 public:
  // `recovery_wait`: how long sandbox RPCs wait for recovery at most.
  ComputeDriverService(SandboxManager* manager, DriverCapabilities capabilities,
                       std::chrono::milliseconds recovery_wait = kRecoveryWait);

  // Until recovery has finished, sandbox RPCs wait (bounded) instead of
  // answering from an incomplete picture; a Watch waits without a thread.
  // Capabilities answer at once.
  void SetReady();
  // "ip:port" the gateway must also listen on so that networked sandboxes
  // can call it back (GatewayCallbackAddress); "" = no requirement.
  void SetGatewayCallbackAddress(std::string address) { callback_address_ = std::move(address); }

  grpc::Status GetCapabilities(grpc::ServerContext*, const pb::GetCapabilitiesRequest*,
                               pb::GetCapabilitiesResponse*) override;
  // UNIMPLEMENTED: supports_sandbox_authentication is false (negotiation.h).
  grpc::Status AuthenticateSandbox(grpc::ServerContext*, const pb::AuthenticateSandboxRequest*,
                                   pb::AuthenticateSandboxResponse*) override;
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

  // The RPCs whose answer depends on the calling generation, for a caller
  // that knows it. The overrides above decide it and call these.
  grpc::Status Capabilities(grpc::ServerContextBase*, GatewayGeneration,
                            const pb::GetCapabilitiesRequest&, pb::GetCapabilitiesResponse*);
  grpc::Status Validate(grpc::ServerContextBase*, GatewayGeneration,
                        const pb::ValidateSandboxCreateRequest&);
  grpc::Status Create(grpc::ServerContextBase*, GatewayGeneration, const pb::CreateSandboxRequest&,
                      pb::CreateSandboxResponse*);
  grpc::Status Start(grpc::ServerContextBase*, GatewayGeneration, const pb::StartSandboxRequest&,
                     pb::StartSandboxResponse*);
  // Subscribes once recovery has finished, without blocking: for a
  // generation's stream (watch_reactor.h) to start on.
  WatchOpener OpenWatch(grpc::ServerContextBase*);
  // Watches still waiting for recovery to end: for tests.
  size_t pending_watches() const { return readiness_.pending(); }

 private:
  // Bounded by the recovery wait and by the call's deadline.
  grpc::Status AwaitReady(Deadline deadline) { return readiness_.Await(deadline); }
  GatewayGeneration OpenShellGeneration(bool request_has_v01_fields) const;
  // What a sandbox request of `generation` may not carry (admission policy).
  grpc::Status CheckAdmitted(GatewayGeneration generation, const pb::DriverSandbox& sandbox) const;
  // Set by each OpenShell GetCapabilities: did it carry peer metadata?
  std::atomic<bool> last_capabilities_v01_{false};
  std::string callback_address_;

  SandboxManager* manager_;
  DriverCapabilities capabilities_;
  Readiness readiness_;
};

}  // namespace osgv
