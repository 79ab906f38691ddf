// ValidateSandboxRequest over requests whose every field comes from the fuzz
// input (FuzzedDataProvider). Invariants:
//   - a refusal is INVALID_ARGUMENT or FAILED_PRECONDITION, names a field
//     ("sandbox." first), is bounded, has no control characters and never
//     holds the sandbox token;
//   - an accepted request has a well-formed id and name, and is accepted
//     again, with the same result, after the record round-trip
//     (EncodeRequest/DecodeRequest) that recovery and Start go through.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/match.h"
#include "capabilities/config.h"
#include "capabilities/validation.h"
#include "fuzz_check.h"
#include "lifecycle/spec_codec.h"

using osgv::fuzz::Require;

namespace {

constexpr char kToken[] = "fuzz-sandbox-token-5b1e";

// Short strings most of the time, so the fuzzer explores structure; now and
// then one that is long.
std::string Text(FuzzedDataProvider& in) {
  return in.ConsumeRandomLengthString(in.ConsumeBool() ? 16 : 512);
}

std::map<std::string, std::string> Map(FuzzedDataProvider& in) {
  std::map<std::string, std::string> out;
  const size_t n = in.ConsumeIntegralInRange<size_t>(0, 4);
  for (size_t i = 0; i < n; ++i) out[Text(in)] = Text(in);
  return out;
}

osgv::SandboxRequest RequestFrom(FuzzedDataProvider& in) {
  osgv::SandboxRequest r;
  r.id = Text(in);
  r.name = Text(in);
  r.workspace = Text(in);
  r.namespace_name = Text(in);
  r.spec.sandbox_token = kToken;
  r.spec.log_level = Text(in);
  r.spec.environment = Map(in);
  r.spec.tmpl.environment = Map(in);
  r.spec.tmpl.labels = Map(in);
  const size_t args = in.ConsumeIntegralInRange<size_t>(0, 3);
  for (size_t i = 0; i < args; ++i) r.spec.command.push_back(Text(in));
  r.spec.tmpl.image = Text(in);
  if (in.ConsumeBool()) {
    r.spec.tmpl.resources = osgv::ResourceRequirements{Text(in), Text(in), Text(in), Text(in)};
  }
  r.spec.tmpl.driver_config_json = Text(in);
  r.spec.tmpl.platform_config_json = in.ConsumeBool() ? Text(in) : "";
  r.spec.tmpl.agent_socket_path = in.ConsumeBool() ? Text(in) : "";
  r.spec.gpu_requested = in.ConsumeIntegralInRange<int>(0, 15) == 0;
  r.spec.tty = in.ConsumeBool();
  return r;
}

bool AllUtf8(const osgv::SandboxRequest& r) {
  auto ok = [](const std::string& s) { return osgv::fuzz::IsValidUtf8(s); };
  bool all = ok(r.id) && ok(r.name) && ok(r.workspace) && ok(r.namespace_name) &&
             ok(r.spec.log_level) && ok(r.spec.tmpl.image) &&
             ok(r.spec.tmpl.driver_config_json) && ok(r.spec.tmpl.platform_config_json) &&
             ok(r.spec.tmpl.agent_socket_path);
  for (const auto* m : {&r.spec.environment, &r.spec.tmpl.environment, &r.spec.tmpl.labels}) {
    for (const auto& [k, v] : *m) all = all && ok(k) && ok(v);
  }
  for (const auto& a : r.spec.command) all = all && ok(a);
  if (r.spec.tmpl.resources) {
    const auto& q = *r.spec.tmpl.resources;
    all = all && ok(q.cpu_request) && ok(q.cpu_limit) && ok(q.memory_request) && ok(q.memory_limit);
  }
  return all;
}

// Every string of the request but the token, run together: the fuzzer
// learns the token from the comparison below and may put it anywhere else,
// where the message is allowed to quote it.
std::string AllButToken(const osgv::SandboxRequest& r) {
  std::string all = r.id + r.name + r.workspace + r.namespace_name + r.spec.log_level +
                    r.spec.tmpl.image + r.spec.tmpl.driver_config_json +
                    r.spec.tmpl.platform_config_json + r.spec.tmpl.agent_socket_path;
  for (const auto* m : {&r.spec.environment, &r.spec.tmpl.environment, &r.spec.tmpl.labels}) {
    for (const auto& [k, v] : *m) all += k + v;
  }
  for (const auto& a : r.spec.command) all += a;
  if (r.spec.tmpl.resources) {
    const auto& q = *r.spec.tmpl.resources;
    all += q.cpu_request + q.cpu_limit + q.memory_request + q.memory_limit;
  }
  return all;
}

bool Same(const osgv::ValidatedSandbox& a, const osgv::ValidatedSandbox& b) {
  return a.memory_limit_bytes == b.memory_limit_bytes && a.cpu_limit_millis == b.cpu_limit_millis &&
         a.pids_limit == b.pids_limit && a.networked == b.networked &&
         a.driver_config.pids_limit == b.driver_config.pids_limit &&
         a.driver_config.network_mode == b.driver_config.network_mode &&
         a.driver_config.pull_policy == b.driver_config.pull_policy;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  static const osgv::Config config = [] {
    osgv::Config c;
    c.default_image = "docker.io/library/busybox:latest";
    return c;
  }();
  const osgv::SandboxRequest request = RequestFrom(in);
  auto validated = osgv::ValidateSandboxRequest(request, config);
  if (!validated.ok()) {
    const absl::Status& st = validated.status();
    Require(absl::IsInvalidArgument(st) || absl::IsFailedPrecondition(st),
            "refusal is INVALID_ARGUMENT or FAILED_PRECONDITION", st.ToString());
    Require(absl::StartsWith(st.message(), "sandbox."), "message names the field first",
            std::string(st.message()));
    Require(!absl::StrContains(st.message(), kToken) ||
                absl::StrContains(AllButToken(request), kToken),
            "message never holds the token", std::string(st.message()));
    osgv::fuzz::RequireSafeMessage(st, 1024);
    return 0;
  }
  Require(osgv::IsSandboxId(request.id), "accepted id is well-formed", request.id);
  Require(osgv::IsDns1123Label(request.name), "accepted name is a DNS-1123 label", request.name);
  if (!AllUtf8(request)) return 0;  // cannot come through protobuf
  auto stored = osgv::DecodeRequest(osgv::EncodeRequest(request));
  Require(stored.ok(), "the stored request decodes");
  auto revalidated = osgv::ValidateSandboxRequest(*stored, config);
  Require(revalidated.ok(), "the stored request is still valid", revalidated.status().ToString());
  Require(Same(*validated, *revalidated), "and validates to the same limits");
  return 0;
}
