#include "driver/compute_driver_service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <optional>

#include "absl/strings/str_cat.h"
#include "capabilities/quantity.h"
#include "capabilities/validation.h"
#include "driver/proto_convert.h"
#include "driver/watch_reactor.h"
#include "lifecycle/log_context.h"

namespace osgv {
namespace {

// Workspace names follow the gateway's rule: a DNS-1123 label.
grpc::Status CheckWorkspace(const std::string& workspace) {
  if (workspace.empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "workspace: required");
  }
  if (!IsDns1123Label(workspace)) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("workspace: must be a DNS-1123 label (got ",
                                     QuoteForMessage(workspace), ")"));
  }
  return grpc::Status::OK;
}

// A lookup key no CreateSandbox could have accepted names no sandbox: the
// gateway's "absent" (NOT_FOUND), answered here so that the key is only
// ever echoed escaped and bounded. The manager looks up by id, else name.
std::optional<grpc::Status> MalformedLookupKey(const std::string& id, const std::string& name) {
  if (!id.empty() && !IsSandboxId(id)) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        absl::StrCat("sandbox_id: no sandbox has the id ", QuoteForMessage(id),
                                     " (not a valid sandbox id)"));
  }
  if (id.empty() && !name.empty() && !IsDns1123Label(name)) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        absl::StrCat("sandbox_name: no sandbox has the name ",
                                     QuoteForMessage(name), " (not a DNS-1123 label)"));
  }
  return std::nullopt;
}

// The gateway's trace id for this call (traceparent metadata), for logs.
std::string TraceId(const grpc::ServerContextBase* ctx) {
  const auto& md = ctx->client_metadata();
  auto it = md.find("traceparent");
  if (it == md.end()) return "";
  return TraceIdFromTraceparent(std::string(it->second.data(), it->second.size()));
}

}  // namespace

ComputeDriverService::ComputeDriverService(SandboxManager* manager,
                                           DriverCapabilities capabilities)
    : manager_(manager), capabilities_(std::move(capabilities)) {}

void ComputeDriverService::SetReady() {
  std::lock_guard<std::mutex> lock(ready_mu_);
  ready_ = true;
  ready_cv_.notify_all();
}

grpc::Status ComputeDriverService::AwaitReady(std::chrono::system_clock::time_point deadline) {
  // 60 s, or the call's own deadline when that comes first (max() = none).
  auto limit = std::min(deadline, std::chrono::system_clock::now() + std::chrono::seconds(60));
  std::unique_lock<std::mutex> lock(ready_mu_);
  if (ready_cv_.wait_until(lock, limit, [this] { return ready_; })) return grpc::Status::OK;
  if (limit == deadline) {
    return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                        "driver is still recovering its sandboxes; the call's deadline passed");
  }
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, "driver is still recovering its sandboxes");
}

grpc::Status ComputeDriverService::GetCapabilities(grpc::ServerContext* ctx,
                                                   const pb::GetCapabilitiesRequest*,
                                                   pb::GetCapabilitiesResponse* out) {
  ScopedTraceId trace(TraceId(ctx));
  out->set_driver_name(capabilities_.driver_name);
  out->set_driver_version(capabilities_.driver_version);
  out->set_default_image(capabilities_.default_image);
  out->set_gateway_manages_lifecycle(capabilities_.gateway_manages_lifecycle);
  return grpc::Status::OK;
}

grpc::Status ComputeDriverService::GetGatewayListenerRequirements(
    grpc::ServerContext*, const pb::GetGatewayListenerRequirementsRequest*,
    pb::GetGatewayListenerRequirementsResponse* out) {
  if (callback_address_.empty()) return grpc::Status::OK;
  auto* requirement = out->add_requirements();
  requirement->set_reason(
      "gvisor sandboxes reach the gateway at host.openshell.internal, the address of the "
      "driver's sandbox bridge; only that address and port are open to them");
  requirement->set_exact_bind_address(callback_address_);
  return grpc::Status::OK;
}

grpc::Status ComputeDriverService::ValidateSandboxCreate(grpc::ServerContext* ctx,
                                                         const pb::ValidateSandboxCreateRequest* in,
                                                         pb::ValidateSandboxCreateResponse*) {
  ScopedTraceId trace(TraceId(ctx));
  return ToGrpc(manager_->Validate(FromProto(in->sandbox())));
}

grpc::Status ComputeDriverService::GetSandbox(grpc::ServerContext* ctx, const pb::GetSandboxRequest* in,
                                              pb::GetSandboxResponse* out) {
  ScopedTraceId trace(TraceId(ctx));
  if (auto s = AwaitReady(ctx->deadline()); !s.ok()) return s;
  if (auto bad = MalformedLookupKey(in->sandbox_id(), in->sandbox_name())) return *bad;
  auto snap = manager_->Get(in->sandbox_id(), in->sandbox_name());
  if (!snap.ok()) return ToGrpc(snap.status());
  ToProto(*snap, out->mutable_sandbox());
  return grpc::Status::OK;
}

grpc::Status ComputeDriverService::ListSandboxes(grpc::ServerContext* ctx,
                                                 const pb::ListSandboxesRequest*,
                                                 pb::ListSandboxesResponse* out) {
  ScopedTraceId trace(TraceId(ctx));
  if (auto s = AwaitReady(ctx->deadline()); !s.ok()) return s;
  for (const auto& snap : manager_->List()) ToProto(snap, out->add_sandboxes());
  return grpc::Status::OK;
}

grpc::Status ComputeDriverService::CreateSandbox(grpc::ServerContext* ctx,
                                                 const pb::CreateSandboxRequest* in,
                                                 pb::CreateSandboxResponse*) {
  ScopedTraceId trace(TraceId(ctx));
  if (auto s = AwaitReady(ctx->deadline()); !s.ok()) return s;
  return ToGrpc(manager_->Create(FromProto(in->sandbox()), ctx->deadline()));
}

grpc::Status ComputeDriverService::StopSandbox(grpc::ServerContext* ctx,
                                               const pb::StopSandboxRequest* in,
                                               pb::StopSandboxResponse*) {
  ScopedTraceId trace(TraceId(ctx));
  if (auto s = AwaitReady(ctx->deadline()); !s.ok()) return s;
  if (auto bad = MalformedLookupKey(in->sandbox_id(), in->sandbox_name())) return *bad;
  return ToGrpc(manager_->Stop(in->sandbox_id(), in->sandbox_name(), ctx->deadline()));
}

grpc::Status ComputeDriverService::StartSandbox(grpc::ServerContext* ctx,
                                                const pb::StartSandboxRequest* in,
                                                pb::StartSandboxResponse*) {
  ScopedTraceId trace(TraceId(ctx));
  if (auto s = AwaitReady(ctx->deadline()); !s.ok()) return s;
  if (auto bad = MalformedLookupKey(in->sandbox_id(), in->sandbox_name())) return *bad;
  return ToGrpc(manager_->Start(in->sandbox_id(), in->sandbox_name(), ctx->deadline()));
}

grpc::Status ComputeDriverService::DeleteSandbox(grpc::ServerContext* ctx,
                                                 const pb::DeleteSandboxRequest* in,
                                                 pb::DeleteSandboxResponse* out) {
  ScopedTraceId trace(TraceId(ctx));
  if (auto s = AwaitReady(ctx->deadline()); !s.ok()) return s;
  // Nothing can be there: deleted = false, as for any absent sandbox.
  if (MalformedLookupKey(in->sandbox_id(), in->sandbox_name())) return grpc::Status::OK;
  auto deleted = manager_->Delete(in->sandbox_id(), in->sandbox_name(), ctx->deadline());
  if (!deleted.ok()) return ToGrpc(deleted.status());
  out->set_deleted(*deleted);
  return grpc::Status::OK;
}

// Workspaces are tenancy groups, not filesystems (gateway-contract.md §5):
// a gVisor host has nothing to create or remove for one. Like the Docker,
// Podman and VM drivers we accept them, after checking the name.
grpc::Status ComputeDriverService::EnsureWorkspace(grpc::ServerContext* ctx,
                                                   const pb::EnsureWorkspaceRequest* in,
                                                   pb::EnsureWorkspaceResponse*) {
  ScopedTraceId trace(TraceId(ctx));
  return CheckWorkspace(in->workspace());
}

grpc::Status ComputeDriverService::DeleteWorkspace(grpc::ServerContext* ctx,
                                                   const pb::DeleteWorkspaceRequest* in,
                                                   pb::DeleteWorkspaceResponse*) {
  ScopedTraceId trace(TraceId(ctx));
  return CheckWorkspace(in->workspace());
}

grpc::ServerWriteReactor<pb::WatchSandboxesEvent>* ComputeDriverService::WatchSandboxes(
    grpc::CallbackServerContext* ctx, const pb::WatchSandboxesRequest*) {
  ScopedTraceId trace(TraceId(ctx));
  if (auto s = AwaitReady(ctx->deadline()); !s.ok()) return FailedWatch(s);
  return NewWatchReactor(manager_->Watch());
}

}  // namespace osgv
