#include "driver/ryno_service.h"

#include "driver/recode.h"
#include "driver/watch_reactor.h"

namespace osgv {
namespace {

constexpr GatewayGeneration kRyno = GatewayGeneration::kRyno;

// Request in, OpenShell call, response out. `call` takes the re-encoded
// request and fills the OpenShell response.
template <class OpenShellIn, class OpenShellOut, class RynoIn, class RynoOut, class Call>
grpc::Status Relay(const RynoIn& in, RynoOut* out, Call call) {
  OpenShellIn request;
  OpenShellOut response;
  if (!Recode(in, &request)) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "request: cannot be re-encoded");
  }
  grpc::Status status = call(request, &response);
  if (status.ok() && !Recode(response, out)) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "response: cannot be re-encoded");
  }
  return status;
}

}  // namespace

grpc::Status RynoComputeDriverService::GetCapabilities(grpc::ServerContext* ctx,
                                                       const ryno_pb::GetCapabilitiesRequest* in,
                                                       ryno_pb::GetCapabilitiesResponse* out) {
  return Relay<pb::GetCapabilitiesRequest, pb::GetCapabilitiesResponse>(
      *in, out, [&](const auto& req, auto* resp) {
        return openshell_->Capabilities(ctx, kRyno, req, resp);
      });
}

grpc::Status RynoComputeDriverService::AuthenticateSandbox(
    grpc::ServerContext* ctx, const ryno_pb::AuthenticateSandboxRequest* in,
    ryno_pb::AuthenticateSandboxResponse* out) {
  return Relay<pb::AuthenticateSandboxRequest, pb::AuthenticateSandboxResponse>(
      *in, out, [&](const auto& req, auto* resp) {
        return openshell_->AuthenticateSandbox(ctx, &req, resp);
      });
}

grpc::Status RynoComputeDriverService::ValidateSandboxCreate(
    grpc::ServerContext* ctx, const ryno_pb::ValidateSandboxCreateRequest* in,
    ryno_pb::ValidateSandboxCreateResponse* out) {
  return Relay<pb::ValidateSandboxCreateRequest, pb::ValidateSandboxCreateResponse>(
      *in, out, [&](const auto& req, auto*) { return openshell_->Validate(ctx, kRyno, req); });
}

grpc::Status RynoComputeDriverService::GetSandbox(grpc::ServerContext* ctx,
                                                  const ryno_pb::GetSandboxRequest* in,
                                                  ryno_pb::GetSandboxResponse* out) {
  return Relay<pb::GetSandboxRequest, pb::GetSandboxResponse>(
      *in, out, [&](const auto& req, auto* resp) { return openshell_->GetSandbox(ctx, &req, resp); });
}

grpc::Status RynoComputeDriverService::ListSandboxes(grpc::ServerContext* ctx,
                                                     const ryno_pb::ListSandboxesRequest* in,
                                                     ryno_pb::ListSandboxesResponse* out) {
  return Relay<pb::ListSandboxesRequest, pb::ListSandboxesResponse>(
      *in, out,
      [&](const auto& req, auto* resp) { return openshell_->ListSandboxes(ctx, &req, resp); });
}

grpc::Status RynoComputeDriverService::CreateSandbox(grpc::ServerContext* ctx,
                                                     const ryno_pb::CreateSandboxRequest* in,
                                                     ryno_pb::CreateSandboxResponse* out) {
  return Relay<pb::CreateSandboxRequest, pb::CreateSandboxResponse>(
      *in, out, [&](const auto& req, auto* resp) { return openshell_->Create(ctx, kRyno, req, resp); });
}

grpc::Status RynoComputeDriverService::StopSandbox(grpc::ServerContext* ctx,
                                                   const ryno_pb::StopSandboxRequest* in,
                                                   ryno_pb::StopSandboxResponse* out) {
  return Relay<pb::StopSandboxRequest, pb::StopSandboxResponse>(
      *in, out, [&](const auto& req, auto* resp) { return openshell_->StopSandbox(ctx, &req, resp); });
}

grpc::Status RynoComputeDriverService::StartSandbox(grpc::ServerContext* ctx,
                                                    const ryno_pb::StartSandboxRequest* in,
                                                    ryno_pb::StartSandboxResponse* out) {
  return Relay<pb::StartSandboxRequest, pb::StartSandboxResponse>(
      *in, out, [&](const auto& req, auto* resp) { return openshell_->Start(ctx, kRyno, req, resp); });
}

grpc::Status RynoComputeDriverService::DeleteSandbox(grpc::ServerContext* ctx,
                                                     const ryno_pb::DeleteSandboxRequest* in,
                                                     ryno_pb::DeleteSandboxResponse* out) {
  return Relay<pb::DeleteSandboxRequest, pb::DeleteSandboxResponse>(
      *in, out,
      [&](const auto& req, auto* resp) { return openshell_->DeleteSandbox(ctx, &req, resp); });
}

grpc::Status RynoComputeDriverService::EnsureWorkspace(grpc::ServerContext* ctx,
                                                       const ryno_pb::EnsureWorkspaceRequest* in,
                                                       ryno_pb::EnsureWorkspaceResponse* out) {
  return Relay<pb::EnsureWorkspaceRequest, pb::EnsureWorkspaceResponse>(
      *in, out,
      [&](const auto& req, auto* resp) { return openshell_->EnsureWorkspace(ctx, &req, resp); });
}

grpc::Status RynoComputeDriverService::DeleteWorkspace(grpc::ServerContext* ctx,
                                                       const ryno_pb::DeleteWorkspaceRequest* in,
                                                       ryno_pb::DeleteWorkspaceResponse* out) {
  return Relay<pb::DeleteWorkspaceRequest, pb::DeleteWorkspaceResponse>(
      *in, out,
      [&](const auto& req, auto* resp) { return openshell_->DeleteWorkspace(ctx, &req, resp); });
}

grpc::ServerWriteReactor<ryno_pb::WatchSandboxesEvent>* RynoComputeDriverService::WatchSandboxes(
    grpc::CallbackServerContext* ctx, const ryno_pb::WatchSandboxesRequest*) {
  return NewRynoWatchReactor(openshell_->OpenWatch(ctx));
}

}  // namespace osgv
