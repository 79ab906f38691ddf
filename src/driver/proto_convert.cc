#include "driver/proto_convert.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include "driver/policy_convert.h"

namespace osgv {
namespace {

// A Struct as compact JSON; "" when unset or empty, so "{}" means nothing.
std::string StructJson(bool present, const google::protobuf::Struct& s) {
  if (!present || s.fields_size() == 0) return "";
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(s, &out).ok()) return "{\"<unencodable>\":true}";
  return out;
}

std::map<std::string, std::string> MapOf(const google::protobuf::Map<std::string, std::string>& m) {
  return {m.begin(), m.end()};
}

}  // namespace

SandboxRequest FromProto(const pb::DriverSandbox& in, GatewayGeneration generation) {
  SandboxRequest r;
  r.spec.generation = generation;
  r.id = in.id();
  r.name = in.name();
  r.namespace_name = in.namespace_();
  r.workspace = in.workspace();
  const auto& spec = in.spec();
  r.spec.log_level = spec.log_level();
  r.spec.environment = MapOf(spec.environment());
  // From v0.1.x on this field carries the supervisor's gateway JWT, which
  // must never reach the workload (gateway-contract-v01.md §8.3); no
  // supervisor runs in those sandboxes, so it is dropped here, as is
  // launch_authentication.
  if (generation == GatewayGeneration::kV0) r.spec.sandbox_token = spec.sandbox_token();
  r.spec.command.assign(spec.command().begin(), spec.command().end());
  r.spec.tty = spec.tty();
  if (spec.has_resource_requirements() && spec.resource_requirements().has_gpu()) {
    r.spec.gpu_requested = true;
    const auto& gpu = spec.resource_requirements().gpu();
    if (gpu.has_count()) r.spec.gpu_count = gpu.count();
  }
  const auto& t = spec.template_();
  r.spec.tmpl.image = t.image();
  r.spec.tmpl.agent_socket_path = t.agent_socket_path();
  r.spec.tmpl.labels = MapOf(t.labels());
  r.spec.tmpl.environment = MapOf(t.environment());
  if (t.has_resources()) {
    const auto& res = t.resources();
    r.spec.tmpl.resources = ResourceRequirements{res.cpu_request(), res.cpu_limit(),
                                                 res.memory_request(), res.memory_limit()};
  }
  r.spec.tmpl.platform_config_json = StructJson(t.has_platform_config(), t.platform_config());
  r.spec.tmpl.driver_config_json = StructJson(t.has_driver_config(), t.driver_config());
  if (generation != GatewayGeneration::kV0) {
    if (spec.has_policy()) r.spec.policy = NetworkPolicyFromProto(spec.policy());
    r.spec.await_main_process_attachment = spec.await_main_process_attachment();
    r.spec.workload_user = spec.workload_identity().user();
    r.spec.workload_group = spec.workload_identity().group();
  }
  return r;
}

void ToProto(const SandboxSnapshot& s, pb::DriverSandbox* out) {
  out->set_id(s.id);
  out->set_name(s.name);
  out->set_namespace_(s.namespace_name);
  out->set_workspace(s.workspace);
  auto* status = out->mutable_status();
  status->set_name(s.status.sandbox_name);
  status->set_instance_id(s.status.instance_id);
  status->set_deleting(s.status.deleting);
  for (const auto& c : s.status.conditions) {
    auto* pc = status->add_conditions();
    pc->set_type(c.type);
    pc->set_status(c.status);
    pc->set_reason(c.reason);
    pc->set_message(c.message);
    // Both generations' fields (gateway-contract-v01.md §4): each gateway
    // reads its own and skips the other.
    pc->set_last_transition_time(c.last_transition_time);
    google::protobuf::Timestamp when;
    if (google::protobuf::util::TimeUtil::FromString(c.last_transition_time, &when)) {
      *pc->mutable_transition_time() = when;
    }
  }
}

void ToProto(const WatchEvent& e, pb::WatchSandboxesEvent* out) {
  switch (e.kind) {
    case WatchEvent::Kind::kSandbox:
      ToProto(e.sandbox, out->mutable_sandbox()->mutable_sandbox());
      break;
    case WatchEvent::Kind::kDeleted:
      out->mutable_deleted()->set_sandbox_id(e.sandbox_id);
      break;
    case WatchEvent::Kind::kPlatformEvent: {
      auto* pe = out->mutable_platform_event();
      pe->set_sandbox_id(e.sandbox_id);
      auto* ev = pe->mutable_event();
      ev->set_timestamp_ms(e.event.timestamp_ms);
      *ev->mutable_event_time() =
          google::protobuf::util::TimeUtil::MillisecondsToTimestamp(e.event.timestamp_ms);
      ev->set_source(e.event.source);
      ev->set_type(e.event.type);
      ev->set_reason(e.event.reason);
      ev->set_message(e.event.message);
      for (const auto& [k, v] : e.event.metadata) (*ev->mutable_metadata())[k] = v;
      break;
    }
  }
}

grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

}  // namespace osgv
