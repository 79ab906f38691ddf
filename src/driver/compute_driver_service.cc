#include "driver/compute_driver_service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <optional>

#include "absl/strings/str_cat.h"
#include "capabilities/quantity.h"
#include "capabilities/validation.h"
#include "driver/negotiation.h"
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

// Stable and opaque (gateway-contract-v01.md §5): the sandbox itself is the
// compute resource, across every Stop and Start.
std::string RuntimeIdentity(const std::string& sandbox_id) {
  return absl::StrCat("gvisor://", sandbox_id);
}

// StartSandboxRequest.generation_id: upstream's runtime-generation form.
bool IsGenerationId(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

bool HasV01Fields(const pb::DriverSandbox& sandbox) {
  const auto& spec = sandbox.spec();
  return spec.has_policy() || spec.await_main_process_attachment() ||
         spec.has_workload_identity() || !spec.launch_authentication().empty() ||
         spec.template_().has_user_namespaces();
}

bool HasV01Fields(const pb::StartSandboxRequest& in) {
  return !in.launch_authentication().empty() || !in.generation_id().empty() ||
         !in.expected_runtime_identity().empty();
}

}  // namespace

ComputeDriverService::ComputeDriverService(SandboxManager* manager,
                                           DriverCapabilities capabilities,
                                           std::chrono::milliseconds recovery_wait)
    : manager_(manager), capabilities_(std::move(capabilities)), readiness_(recovery_wait) {}

void ComputeDriverService::SetReady() { readiness_.SetReady(); }

GatewayGeneration ComputeDriverService::OpenShellGeneration(bool request_has_v01_fields) const {
  return request_has_v01_fields || last_capabilities_v01_.load() ? GatewayGeneration::kV01
                                                                 : GatewayGeneration::kV0;
}

grpc::Status ComputeDriverService::GetCapabilities(grpc::ServerContext* ctx,
                                                   const pb::GetCapabilitiesRequest* in,
                                                   pb::GetCapabilitiesResponse* out) {
  last_capabilities_v01_.store(in->has_gateway());
  return Capabilities(ctx, in->has_gateway() ? GatewayGeneration::kV01 : GatewayGeneration::kV0,
                      *in, out);
}

grpc::Status ComputeDriverService::Capabilities(grpc::ServerContextBase* ctx,
                                                GatewayGeneration generation,
                                                const pb::GetCapabilitiesRequest& in,
                                                pb::GetCapabilitiesResponse* out) {
  ScopedTraceId trace(TraceId(ctx));
  if (generation != GatewayGeneration::kV0) {
    if (!in.has_gateway()) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "gateway: peer metadata required; this gateway generation always sends it");
    }
    if (auto s = CheckGatewayMetadata(in.gateway(), generation); !s.ok()) {
      spdlog::warn("refusing the gateway's capabilities request: {}", s.error_message());
      return s;
    }
  }
  FillCapabilities(capabilities_, generation, out);
  return grpc::Status::OK;
}

grpc::Status ComputeDriverService::AuthenticateSandbox(grpc::ServerContext*,
                                                       const pb::AuthenticateSandboxRequest*,
                                                       pb::AuthenticateSandboxResponse*) {
  return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                      "this driver does not authenticate sandbox credentials "
                      "(supports_sandbox_authentication is false)");
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
  return Validate(ctx, OpenShellGeneration(HasV01Fields(in->sandbox())), *in);
}

grpc::Status ComputeDriverService::Validate(grpc::ServerContextBase* ctx,
                                            GatewayGeneration generation,
                                            const pb::ValidateSandboxCreateRequest& in) {
  ScopedTraceId trace(TraceId(ctx));
  if (auto s = CheckAdmitted(generation, in.sandbox()); !s.ok()) return s;
  return ToGrpc(manager_->Validate(FromProto(in.sandbox(), generation)));
}

grpc::Status ComputeDriverService::CheckAdmitted(GatewayGeneration generation,
                                                 const pb::DriverSandbox& sandbox) const {
  // The acknowledged admission policy binds v0.1.x and Ryno gateways only;
  // v0.0.x knows none and keeps its behaviour.
  if (generation == GatewayGeneration::kV0 || capabilities_.admission.allow_driver_config) {
    return grpc::Status::OK;
  }
  const auto& tmpl = sandbox.spec().template_();
  if (tmpl.has_driver_config() && tmpl.driver_config().fields_size() > 0) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "spec.template.driver_config: not admitted; the acknowledged admission "
                        "policy (gateway.admission_config_json) has allow_driver_config false");
  }
  return grpc::Status::OK;
}

grpc::Status ComputeDriverService::GetSandbox(grpc::ServerContext* ctx, const pb::GetSandboxRequest* in,
                                              pb::GetSandboxResponse* out) {
  ScopedTraceId trace(TraceId(ctx));
  if (auto s = AwaitReady(ctx->deadline()); !s.ok()) return s;
  if (auto bad = MalformedLookupKey(in->sandbox_id(), in->name())) return *bad;
  auto snap = manager_->Get(in->sandbox_id(), in->name());
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
                                                 pb::CreateSandboxResponse* out) {
  return Create(ctx, OpenShellGeneration(HasV01Fields(in->sandbox())), *in, out);
}

grpc::Status ComputeDriverService::Create(grpc::ServerContextBase* ctx, GatewayGeneration generation,
                                          const pb::CreateSandboxRequest& in,
                                          pb::CreateSandboxResponse* out) {
  ScopedTraceId trace(TraceId(ctx));
  if (auto s = AwaitReady(ctx->deadline()); !s.ok()) return s;
  if (auto s = CheckAdmitted(generation, in.sandbox()); !s.ok()) return s;
  auto created = manager_->Create(FromProto(in.sandbox(), generation), ctx->deadline());
  if (!created.ok()) return ToGrpc(created);
  out->set_runtime_identity(RuntimeIdentity(in.sandbox().id()));
  return grpc::Status::OK;
}

grpc::Status ComputeDriverService::StopSandbox(grpc::ServerContext* ctx,
                                               const pb::StopSandboxRequest* in,
                                               pb::StopSandboxResponse*) {
  ScopedTraceId trace(TraceId(ctx));
  if (auto s = AwaitReady(ctx->deadline()); !s.ok()) return s;
  if (auto bad = MalformedLookupKey(in->sandbox_id(), in->name())) return *bad;
  return ToGrpc(manager_->Stop(in->sandbox_id(), in->name(), ctx->deadline()));
}

grpc::Status ComputeDriverService::StartSandbox(grpc::ServerContext* ctx,
                                                const pb::StartSandboxRequest* in,
                                                pb::StartSandboxResponse* out) {
  return Start(ctx, OpenShellGeneration(HasV01Fields(*in)), *in, out);
}

grpc::Status ComputeDriverService::Start(grpc::ServerContextBase* ctx, GatewayGeneration generation,
                                         const pb::StartSandboxRequest& in,
                                         pb::StartSandboxResponse* out) {
  ScopedTraceId trace(TraceId(ctx));
  if (auto s = AwaitReady(ctx->deadline()); !s.ok()) return s;
  if (auto bad = MalformedLookupKey(in.sandbox_id(), in.name())) return *bad;
  if (!in.generation_id().empty() && !IsGenerationId(in.generation_id())) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("generation_id: must be 1 to 64 characters of [a-z0-9-] (got ",
                                     QuoteForMessage(in.generation_id()), ")"));
  }
  // Start of a running sandbox succeeds without doing anything, so a
  // retried Start (same generation_id) is idempotent. The credentials in
  // launch_authentication are not used: no supervisor runs in v0.1.x and
  // Ryno sandboxes (docs/generations.md).
  if (auto s = manager_->Start(in.sandbox_id(), in.name(), ctx->deadline()); !s.ok()) return ToGrpc(s);
  if (generation != GatewayGeneration::kV0) {
    std::string id = in.sandbox_id();
    if (id.empty()) {
      auto snap = manager_->Get("", in.name());
      if (snap.ok()) id = snap->id;
    }
    out->set_runtime_identity(RuntimeIdentity(id));
  }
  return grpc::Status::OK;
}

grpc::Status ComputeDriverService::DeleteSandbox(grpc::ServerContext* ctx,
                                                 const pb::DeleteSandboxRequest* in,
                                                 pb::DeleteSandboxResponse* out) {
  ScopedTraceId trace(TraceId(ctx));
  if (auto s = AwaitReady(ctx->deadline()); !s.ok()) return s;
  // Nothing can be there: deleted = false, as for any absent sandbox.
  if (MalformedLookupKey(in->sandbox_id(), in->name())) return grpc::Status::OK;
  auto deleted = manager_->Delete(in->sandbox_id(), in->name(), ctx->deadline());
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
  return NewWatchReactor(OpenWatch(ctx));
}

WatchOpener ComputeDriverService::OpenWatch(grpc::ServerContextBase* ctx) {
  const Deadline deadline = ctx->deadline();
  return [this, deadline, trace = TraceId(ctx)](WatchStarted started) {
    readiness_.WhenReady(deadline, [this, trace, started = std::move(started)](
                                       const grpc::Status& ready) {
      ScopedTraceId scoped(trace);
      if (!ready.ok()) return started(ready, WatchStart{});
      started(grpc::Status::OK, manager_->Watch());
    });
  };
}

}  // namespace osgv
