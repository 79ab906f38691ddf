// Hostile gateway requests against the real gRPC service on its Unix
// socket: each table row is one malformed or hostile request, sent through a
// client generated from our proto. Every row must be refused with the
// expected code and a message that starts with the field it blames, that is
// bounded, free of control characters and of the sandbox token, and the
// state directory must be exactly as before (state_fingerprint.h).
//
// A row that names a create request is sent to ValidateSandboxCreate and
// then CreateSandbox: both must refuse it the same way.
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "hostile/driver_under_test.h"
#include "hostile/state_fingerprint.h"

namespace osgv::testing {
namespace {

using grpc::StatusCode;

constexpr size_t kMiB = 1024 * 1024;
// The sandbox every driver in this file already has (CreateSettled).
constexpr char kExistingId[] = "existing-1";
constexpr char kExistingName[] = "existing";

enum class Rpc {
  kValidateAndCreate,
  kCreateOnly,
  kGet,
  kStop,
  kStart,
  kDelete,
  kEnsureWorkspace,  // the workspace is the row's `id`
  kDeleteWorkspace,
};

struct Case {
  std::string name;
  Rpc rpc = Rpc::kValidateAndCreate;
  // Create rows: turns the valid base request into the hostile one.
  std::function<void(pb::DriverSandbox&, DriverUnderTest&)> mutate;
  // Lookup rows.
  std::string id;
  std::string lookup_name;
  std::vector<StatusCode> codes;
  // What the message must start with; "" only where gRPC itself answers.
  std::string prefix;
};

constexpr StatusCode kInvalid = StatusCode::INVALID_ARGUMENT;
constexpr StatusCode kUnsupported = StatusCode::FAILED_PRECONDITION;
// What gRPC's own deserializer answers for a request protobuf cannot parse
// (invalid UTF-8 in a string, nesting past its recursion limit): INTERNAL,
// empty message, before ComputeDriverService sees anything. Changing that
// would need our own SerializationTraits; the gateway (prost) cannot send
// such a request. The row still checks that nothing changed.
constexpr StatusCode kUnparsable = StatusCode::INTERNAL;

// A request the driver accepts (checked by "the base request is valid").
pb::DriverSandbox BaseSandbox() {
  pb::DriverSandbox s;
  s.set_id("hostile-1");
  s.set_name("hostile");
  s.set_workspace("dev");
  auto* spec = s.mutable_spec();
  spec->set_sandbox_token(kSecretToken);
  spec->add_command("/bin/sh");
  spec->mutable_template_()->set_image("registry.invalid/hostile/agent:1");
  return s;
}

std::string Big(size_t n, char c = 'a') { return std::string(n, c); }
std::string WithNul(const std::string& a, const std::string& b) {
  return a + std::string(1, '\0') + b;
}

pb::DriverSandboxTemplate& Tmpl(pb::DriverSandbox& s) {
  return *s.mutable_spec()->mutable_template_();
}
pb::DriverResourceRequirements& Res(pb::DriverSandbox& s) {
  return *Tmpl(s).mutable_resources();
}

// Sets a Struct field from JSON text (how the gateway's values arrive).
void SetStruct(google::protobuf::Struct* out, const std::string& json) {
  REQUIRE(google::protobuf::util::JsonStringToMessage(json, out).ok());
}

// Row builders, so the table reads one line per case.
Case Create(std::string name, std::function<void(pb::DriverSandbox&)> mutate,
            std::vector<StatusCode> codes, std::string prefix) {
  Case c;
  c.name = std::move(name);
  c.mutate = [m = std::move(mutate)](pb::DriverSandbox& s, DriverUnderTest&) { m(s); };
  c.codes = std::move(codes);
  c.prefix = std::move(prefix);
  return c;
}
Case Field(std::string name, std::function<void(pb::DriverSandbox&)> mutate,
           std::string prefix) {
  return Create(std::move(name), std::move(mutate), {kInvalid}, std::move(prefix));
}
Case DriverConfig(std::string name, std::string json, std::string prefix) {
  return Field(
      std::move(name),
      [json](pb::DriverSandbox& s) { SetStruct(Tmpl(s).mutable_driver_config(), json); },
      std::move(prefix));
}
Case Lookup(std::string name, Rpc rpc, std::string id, std::string lookup_name,
            std::vector<StatusCode> codes, std::string prefix) {
  Case c;
  c.name = std::move(name);
  c.rpc = rpc;
  c.id = std::move(id);
  c.lookup_name = std::move(lookup_name);
  c.codes = std::move(codes);
  c.prefix = std::move(prefix);
  return c;
}

// driver_config {"pids_limit": [[[...1...]]]}, `depth` lists deep, built
// field by field (the JSON parser of the client would refuse deep ones).
void SetNestedPidsLimit(pb::DriverSandbox& s, int depth) {
  google::protobuf::Value* value =
      &(*Tmpl(s).mutable_driver_config()->mutable_fields())["pids_limit"];
  for (int i = 0; i < depth; ++i) value = value->mutable_list_value()->add_values();
  value->set_number_value(1);
}

const std::string kId = "sandbox.id:";
const std::string kName = "sandbox.name:";
const std::string kWorkspace = "sandbox.workspace:";
const std::string kNamespace = "sandbox.namespace:";
const std::string kEnv = "sandbox.spec.environment";
const std::string kTmplEnv = "sandbox.spec.template.environment";
const std::string kLabels = "sandbox.spec.template.labels[";
const std::string kImage = "sandbox.spec.template.image:";
const std::string kCpuLimit = "sandbox.spec.template.resources.cpu_limit:";
const std::string kMemLimit = "sandbox.spec.template.resources.memory_limit:";
const std::string kMemRequest = "sandbox.spec.template.resources.memory_request:";
const std::string kCpuRequest = "sandbox.spec.template.resources.cpu_request:";
const std::string kDc = "sandbox.spec.template.driver_config";
const std::string kPids = "sandbox.spec.template.driver_config.pids_limit:";

std::vector<Case> HostileCases() {
  std::vector<Case> t;
  // ---- identity: traversal, NUL, control characters, size -----------------
  t.push_back(Field("id ../x", [](auto& s) { s.set_id("../x"); }, kId));
  t.push_back(Field("id /etc/passwd", [](auto& s) { s.set_id("/etc/passwd"); }, kId));
  t.push_back(Field("id ..", [](auto& s) { s.set_id(".."); }, kId));
  t.push_back(Field("id a/../../b", [](auto& s) { s.set_id("a/../../b"); }, kId));
  t.push_back(Field("id with NUL", [](auto& s) { s.set_id(WithNul("ab", "cd")); }, kId));
  t.push_back(Field("id with newline", [](auto& s) { s.set_id("ab\ncd"); }, kId));
  t.push_back(Field("id starting with '-' (a runsc flag)", [](auto& s) { s.set_id("--root=/"); },
                    kId));
  t.push_back(Field("id of 1 MiB", [](auto& s) { s.set_id(Big(kMiB)); }, kId));
  t.push_back(Field("id empty", [](auto& s) { s.set_id(""); }, kId));
  t.push_back(Field("name ../evil", [](auto& s) { s.set_name("../evil"); }, kName));
  t.push_back(Field("name with NUL", [](auto& s) { s.set_name(WithNul("a", "b")); }, kName));
  t.push_back(Field("name with an ANSI escape", [](auto& s) { s.set_name("a\x1b[31mred"); },
                    kName));
  t.push_back(Field("name of 1 MiB", [](auto& s) { s.set_name(Big(kMiB)); }, kName));
  // proto3 strings must be UTF-8: gRPC refuses the request (kUnparsable).
  t.push_back(Create("name with invalid UTF-8", [](auto& s) { s.set_name("a\xff\xfe"); },
                     {kUnparsable}, ""));
  t.push_back(Field("name uppercase", [](auto& s) { s.set_name("UPPER"); }, kName));
  t.push_back(Field("workspace ../ws", [](auto& s) { s.set_workspace("../ws"); }, kWorkspace));
  t.push_back(Field("workspace with NUL", [](auto& s) { s.set_workspace(WithNul("ws", "")); },
                    kWorkspace));
  t.push_back(Field("workspace of 1 MiB", [](auto& s) { s.set_workspace(Big(kMiB)); },
                    kWorkspace));
  t.push_back(Field("namespace /abs", [](auto& s) { s.set_namespace_("/abs"); }, kNamespace));
  t.push_back(Field("namespace with CR LF", [](auto& s) { s.set_namespace_("ns\r\nX: y"); },
                    kNamespace));

  // ---- environment -----------------------------------------------------------
  auto env = [](pb::DriverSandbox& s) { return s.mutable_spec()->mutable_environment(); };
  t.push_back(Field("env key ../X", [=](auto& s) { (*env(s))["../X"] = "v"; }, kEnv + "["));
  t.push_back(Field("env key with NUL", [=](auto& s) { (*env(s))[WithNul("A", "B")] = "v"; },
                    kEnv + "["));
  t.push_back(Field("env key with '='", [=](auto& s) { (*env(s))["A=B"] = "v"; }, kEnv + "["));
  t.push_back(Field("env key empty", [=](auto& s) { (*env(s))[""] = "v"; }, kEnv + "["));
  t.push_back(Field("env key of 1 MiB", [=](auto& s) { (*env(s))[Big(kMiB, 'A')] = "v"; },
                    kEnv + "["));
  t.push_back(Field("env value with NUL", [=](auto& s) { (*env(s))["A"] = WithNul("x", "y"); },
                    kEnv + "[\"A\"]:"));
  t.push_back(Field("env value of 1 MiB", [=](auto& s) { (*env(s))["A"] = Big(kMiB); },
                    kEnv + "[\"A\"]:"));
  t.push_back(Field("10000 env entries", [=](auto& s) {
    for (int i = 0; i < 10000; ++i) (*env(s))[absl::StrCat("V", i)] = "x";
  }, kEnv + ":"));
  t.push_back(Field("environment of 1.5 MiB in 100 KiB values", [=](auto& s) {
    for (int i = 0; i < 15; ++i) (*env(s))[absl::StrCat("V", i)] = Big(100 * 1024);
  }, "sandbox.spec:"));
  t.push_back(Field("template env key with newline", [](auto& s) {
    (*Tmpl(s).mutable_environment())["PATH\n"] = "/x";
  }, kTmplEnv + "["));
  t.push_back(Field("template env value with NUL", [](auto& s) {
    (*Tmpl(s).mutable_environment())["LD_PRELOAD"] = WithNul("/tmp/x.so", "");
  }, kTmplEnv + "[\"LD_PRELOAD\"]:"));

  // ---- labels ----------------------------------------------------------------
  auto labels = [](pb::DriverSandbox& s) { return Tmpl(s).mutable_labels(); };
  t.push_back(Field("label key ../x", [=](auto& s) { (*labels(s))["../x"] = "v"; }, kLabels));
  t.push_back(Field("label key with NUL", [=](auto& s) { (*labels(s))[WithNul("k", "")] = "v"; },
                    kLabels));
  t.push_back(Field("label key of 1 MiB", [=](auto& s) { (*labels(s))[Big(kMiB)] = "v"; },
                    kLabels));
  t.push_back(Field("label key with DEL", [=](auto& s) { (*labels(s))["a\x7f" "b"] = "v"; },
                    kLabels));
  t.push_back(Field("label value a/../b", [=](auto& s) { (*labels(s))["k"] = "a/../b"; },
                    kLabels));
  t.push_back(Field("label value with NUL", [=](auto& s) { (*labels(s))["k"] = WithNul("v", ""); },
                    kLabels));
  t.push_back(Field("label value of 1 MiB", [=](auto& s) { (*labels(s))["k"] = Big(kMiB); },
                    kLabels));

  // ---- command and log level ---------------------------------------------------
  t.push_back(Field("command[0] empty", [](auto& s) { s.mutable_spec()->set_command(0, ""); },
                    "sandbox.spec.command[0]:"));
  t.push_back(Field("command[1] with NUL", [](auto& s) {
    s.mutable_spec()->add_command(WithNul("-c", "rm -rf /"));
  }, "sandbox.spec.command[1]:"));
  t.push_back(Field("command[1] of 1 MiB", [](auto& s) {
    s.mutable_spec()->add_command(Big(kMiB));
  }, "sandbox.spec.command[1]:"));
  t.push_back(Field("log_level with newline", [](auto& s) {
    s.mutable_spec()->set_log_level("info\nFAKE LOG LINE");
  }, "sandbox.spec.log_level:"));

  // ---- image references ----------------------------------------------------------
  auto image = [](std::string name, std::string ref) {
    return Field(std::move(name), [ref](auto& s) { Tmpl(s).set_image(ref); }, kImage);
  };
  t.push_back(image("image ../../etc", "../../etc"));
  t.push_back(image("image /etc/passwd", "/etc/passwd"));
  t.push_back(image("image with NUL", WithNul("busybox", ":latest")));
  t.push_back(image("image with newline", "busybox\n:latest"));
  t.push_back(image("image of 1 MiB", Big(kMiB)));
  t.push_back(image("image @sha256 of 3 digits", "busybox@sha256:abc"));
  t.push_back(image("image @sha256 of 65 digits", "busybox@sha256:" + Big(65, 'a')));
  t.push_back(image("image @sha256 of 63 digits", "busybox@sha256:" + Big(63, '0')));
  t.push_back(image("image @sha256 uppercase", "busybox@sha256:" + Big(64, 'A')));
  t.push_back(image("image @sha256 empty", "busybox@sha256:"));
  t.push_back(image("image @md5", "busybox@md5:d41d8cd98f00b204e9800998ecf8427e"));
  t.push_back(image("image URL scheme file://", "file:///etc"));
  t.push_back(image("image docker:// scheme", "docker://busybox"));
  t.push_back(image("image oci: relative path", "oci:relative/dir"));
  t.push_back(image("image oci: empty tag", "oci:/tmp/layout:"));
  t.push_back(image("image tag with '/'-free traversal", "busybox:../../x"));
  t.push_back(image("image registry host with '..'", "a..b/c:1"));

  // ---- quantities ----------------------------------------------------------------
  auto res = [](std::string name, std::function<void(pb::DriverResourceRequirements&)> set,
                std::string prefix) {
    return Field(std::move(name), [set](auto& s) { set(Res(s)); }, std::move(prefix));
  };
  t.push_back(res("cpu_limit -1", [](auto& r) { r.set_cpu_limit("-1"); }, kCpuLimit));
  t.push_back(res("cpu_limit 0", [](auto& r) { r.set_cpu_limit("0"); }, kCpuLimit));
  t.push_back(res("memory_limit 1e99", [](auto& r) { r.set_memory_limit("1e99"); }, kMemLimit));
  t.push_back(res("memory_limit 10Qi", [](auto& r) { r.set_memory_limit("10Qi"); }, kMemLimit));
  t.push_back(res("cpu_limit 0x10", [](auto& r) { r.set_cpu_limit("0x10"); }, kCpuLimit));
  t.push_back(res("memory_limit 1e999999999999",
                  [](auto& r) { r.set_memory_limit("1e999999999999"); }, kMemLimit));
  t.push_back(res("cpu_limit 1e-99999", [](auto& r) { r.set_cpu_limit("1e-99999"); },
                  kCpuLimit));
  t.push_back(res("memory_limit NaN", [](auto& r) { r.set_memory_limit("NaN"); }, kMemLimit));
  t.push_back(res("memory_limit inf", [](auto& r) { r.set_memory_limit("inf"); }, kMemLimit));
  t.push_back(res("memory_limit '1 Gi'", [](auto& r) { r.set_memory_limit("1 Gi"); },
                  kMemLimit));
  t.push_back(res("memory_limit 9Ei (above int64)", [](auto& r) { r.set_memory_limit("9Ei"); },
                  kMemLimit));
  t.push_back(res("memory_limit of 1 MiB of digits",
                  [](auto& r) { r.set_memory_limit(Big(kMiB, '9')); }, kMemLimit));
  t.push_back(res("memory_request above memory_limit", [](auto& r) {
    r.set_memory_limit("1Mi");
    r.set_memory_request("1Gi");
  }, kMemRequest));
  t.push_back(res("cpu_request with NUL", [](auto& r) { r.set_cpu_request(WithNul("1", "")); },
                  kCpuRequest));

  // ---- driver_config: wrong JSON types, unknown keys, size ---------------------------
  t.push_back(DriverConfig("pids_limit \"x\"", R"({"pids_limit": "x"})", kPids));
  t.push_back(DriverConfig("pids_limit object", R"({"pids_limit": {"a": 1}})", kPids));
  t.push_back(DriverConfig("pids_limit array", R"({"pids_limit": [1, 2]})", kPids));
  t.push_back(DriverConfig("pids_limit null", R"({"pids_limit": null})", kPids));
  t.push_back(DriverConfig("pids_limit true", R"({"pids_limit": true})", kPids));
  t.push_back(DriverConfig("pids_limit -1", R"({"pids_limit": -1})", kPids));
  t.push_back(DriverConfig("pids_limit 1e300", R"({"pids_limit": 1e300})", kPids));
  t.push_back(DriverConfig("pids_limit 2.5", R"({"pids_limit": 2.5})", kPids));
  t.push_back(Field("pids_limit 30 lists deep", [](auto& s) { SetNestedPidsLimit(s, 30); },
                    kPids));
  // Deeper than protobuf's recursion limit (100): gRPC cannot parse the
  // request and answers INTERNAL with no message before our code runs (see
  // kUnparsable).
  t.push_back(Create("pids_limit 200 lists deep", [](auto& s) { SetNestedPidsLimit(s, 200); },
                     {kUnparsable}, ""));
  t.push_back(Field("pids_limit NaN", [](auto& s) {
    (*Tmpl(s).mutable_driver_config()->mutable_fields())["pids_limit"].set_number_value(NAN);
  }, kDc));
  t.push_back(DriverConfig("unknown key privileged", R"({"privileged": true})",
                           kDc + ".privileged:"));
  t.push_back(DriverConfig("unknown key ../x", R"({"../x": 1})", kDc + "[\"../x\"]:"));
  t.push_back(DriverConfig("unknown key with NUL", R"({"a\u0000b": 1})", kDc + "["));
  t.push_back(DriverConfig("unknown key of 1 MiB", absl::StrCat("{\"", Big(kMiB), "\": 1}"),
                           kDc + "["));
  t.push_back(DriverConfig("network_mode host", R"({"network_mode": "host"})",
                           kDc + ".network_mode:"));
  t.push_back(DriverConfig("network_mode of 1 MiB",
                           absl::StrCat(R"({"network_mode": ")", Big(kMiB), "\"}"),
                           kDc + ".network_mode:"));
  t.push_back(DriverConfig("pull_policy object", R"({"pull_policy": {"$ne": 1}})",
                           kDc + ".pull_policy:"));
  t.push_back(DriverConfig("pull_policy with control characters",
                           R"({"pull_policy": "always\u001b[2J"})", kDc + ".pull_policy:"));

  // ---- what the driver cannot serve ------------------------------------------------------
  t.push_back(Create("platform_config set", [](auto& s) {
    SetStruct(Tmpl(s).mutable_platform_config(), R"({"runtimeClassName": "runc"})");
  }, {kUnsupported}, "sandbox.spec.template.platform_config:"));
  t.push_back(Create("platform_config key of 1 MiB", [](auto& s) {
    SetStruct(Tmpl(s).mutable_platform_config(), absl::StrCat("{\"", Big(kMiB), "\": 1}"));
  }, {kUnsupported}, "sandbox.spec.template.platform_config:"));
  t.push_back(Create("platform_config with 10000 keys", [](auto& s) {
    auto* fields = Tmpl(s).mutable_platform_config()->mutable_fields();
    for (int i = 0; i < 10000; ++i) (*fields)[absl::StrCat("k", i)].set_number_value(i);
  }, {kUnsupported}, "sandbox.spec.template.platform_config:"));
  t.push_back(Create("agent_socket_path docker.sock", [](auto& s) {
    Tmpl(s).set_agent_socket_path("/var/run/docker.sock");
  }, {kUnsupported}, "sandbox.spec.template.agent_socket_path:"));
  t.push_back(Create("gpu requested", [](auto& s) {
    s.mutable_spec()->mutable_resource_requirements()->mutable_gpu()->set_count(8);
  }, {kUnsupported}, "sandbox.spec.resource_requirements.gpu:"));

  // ---- duplicates of the existing sandbox (Validate cannot know them) ----------------------
  Case dup_id = Field("id of an existing sandbox", [](auto& s) { s.set_id(kExistingId); }, kId);
  dup_id.rpc = Rpc::kCreateOnly;
  dup_id.codes = {StatusCode::ALREADY_EXISTS};
  t.push_back(dup_id);
  Case dup_name =
      Field("name of an existing sandbox", [](auto& s) { s.set_name(kExistingName); }, kName);
  dup_name.rpc = Rpc::kCreateOnly;
  dup_name.codes = {StatusCode::ALREADY_EXISTS};
  t.push_back(dup_name);

  // ---- size: past the gRPC server's 4 MiB receive limit ---------------------------------
  // gRPC refuses it before our code sees it, with its own message.
  t.push_back(Create("request of 5 MiB", [](auto& s) {
    (*Tmpl(s).mutable_labels())["k"] = Big(5 * kMiB);
  }, {StatusCode::RESOURCE_EXHAUSTED}, ""));

  // ---- lookups: Get, Stop, Start, Delete by a hostile id or name -------------------------
  // A key that cannot name a sandbox names none: NOT_FOUND (the gateway's
  // "absent"), and Delete's idempotent deleted=false.
  const std::vector<StatusCode> kNotFound = {StatusCode::NOT_FOUND};
  t.push_back(Lookup("Get id ../x", Rpc::kGet, "../x", "", kNotFound, "sandbox_id:"));
  t.push_back(Lookup("Get id of 1 MiB", Rpc::kGet, Big(kMiB), "", kNotFound, "sandbox_id:"));
  t.push_back(Lookup("Get name with NUL", Rpc::kGet, "", WithNul("existing", ""), kNotFound,
                     "sandbox_name:"));
  t.push_back(Lookup("Get name ../existing", Rpc::kGet, "", "../existing", kNotFound,
                     "sandbox_name:"));
  t.push_back(Lookup("Stop id /etc/passwd", Rpc::kStop, "/etc/passwd", "", kNotFound,
                     "sandbox_id:"));
  t.push_back(Lookup("Stop id with NUL", Rpc::kStop, WithNul(kExistingId, ""), "", kNotFound,
                     "sandbox_id:"));
  t.push_back(Lookup("Start id with an ANSI escape", Rpc::kStart, "\x1b[2Jx", "", kNotFound,
                     "sandbox_id:"));
  t.push_back(Lookup("Start name of 1 MiB", Rpc::kStart, "", Big(kMiB), kNotFound,
                     "sandbox_name:"));
  t.push_back(Lookup("Delete id ../existing-1", Rpc::kDelete, "../existing-1", "",
                     {StatusCode::OK}, ""));
  t.push_back(Lookup("Delete name with NUL", Rpc::kDelete, "", WithNul(kExistingName, ""),
                     {StatusCode::OK}, ""));
  t.push_back(Lookup("Get without id or name", Rpc::kGet, "", "", {kInvalid}, "sandbox_id:"));
  t.push_back(Lookup("Delete without id or name", Rpc::kDelete, "", "", {kInvalid},
                     "sandbox_id:"));
  t.push_back(Lookup("EnsureWorkspace ../ws", Rpc::kEnsureWorkspace, "../ws", "", {kInvalid},
                     "workspace:"));
  t.push_back(Lookup("EnsureWorkspace of 1 MiB", Rpc::kEnsureWorkspace, Big(kMiB), "",
                     {kInvalid}, "workspace:"));
  t.push_back(Lookup("DeleteWorkspace with NUL and newline", Rpc::kDeleteWorkspace,
                     WithNul("ws", "\nx"), "", {kInvalid}, "workspace:"));
  return t;
}

// oci: layouts through the socket (images.oci_roots): none are allowed
// without an operator-listed root, and never the driver's own directories.
std::vector<Case> OciLayoutCases() {
  auto oci = [](std::string name, std::function<std::string(DriverUnderTest&)> path) {
    Case c;
    c.name = std::move(name);
    c.mutate = [path](pb::DriverSandbox& s, DriverUnderTest& d) {
      Tmpl(s).set_image("oci:" + path(d));
    };
    c.codes = {kUnsupported, kInvalid};
    c.prefix = kImage;
    return c;
  };
  std::vector<Case> t;
  t.push_back(oci("oci:/etc", [](auto&) { return "/etc"; }));
  t.push_back(oci("oci:/", [](auto&) { return "/"; }));
  t.push_back(oci("oci:<state dir>", [](auto& d) { return d.layout().root; }));
  t.push_back(oci("oci:<state>/images", [](auto& d) { return d.layout().images(); }));
  t.push_back(oci("oci:<state>/sandboxes/<rid>/upper",
                  [](auto& d) { return d.layout().upper(d.RunscIdOf(kExistingId)); }));
  t.push_back(oci("oci:<state>/sandboxes/<rid>/upper/../upper:tag", [](auto& d) {
    return d.layout().upper(d.RunscIdOf(kExistingId)) + "/../upper:tag";
  }));
  t.push_back(oci("oci:<checkpoint_dir>", [](auto& d) { return d.checkpoint_dir(); }));
  t.push_back(oci("oci:/etc/../<state dir>",
                  [](auto& d) { return "/etc/.." + d.layout().root; }));
  return t;
}

// No secret, no raw control character, nothing unbounded.
void CheckMessageIsSafe(const std::string& message) {
  CHECK(message.size() <= 2048);
  CHECK_FALSE(absl::StrContains(message, kSecretToken));
  bool control = false;
  for (char c : message) control = control || static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  CHECK_FALSE(control);
}

// OSGV_HOSTILE_REPORT=1 prints one line per answer (row, code, the start
// of the message, escaped), the table docs/security.md is written from.
void Report(const std::string& row, const std::string& rpc, const grpc::Status& status) {
  if (getenv("OSGV_HOSTILE_REPORT") == nullptr) return;
  std::printf("| %s | %s | %d | %s |\n", row.c_str(), rpc.c_str(),
              static_cast<int>(status.error_code()),
              absl::CEscape(status.error_message().substr(0, 120)).c_str());
}

void CheckRefusal(const Case& c, const grpc::Status& status) {
  // Shown on failure: the code and a bounded, escaped message.
  INFO("code " << status.error_code() << ", message '"
               << absl::CEscape(status.error_message().substr(0, 300)) << "'");
  CHECK(std::find(c.codes.begin(), c.codes.end(), status.error_code()) != c.codes.end());
  CHECK(absl::StartsWith(status.error_message(), c.prefix));
  CheckMessageIsSafe(status.error_message());
}

grpc::Status Send(pb::ComputeDriver::Stub& stub, Rpc rpc, const pb::DriverSandbox& sandbox,
                  const Case& c, bool* deleted) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  switch (rpc) {
    case Rpc::kValidateAndCreate: {
      pb::ValidateSandboxCreateRequest in;
      *in.mutable_sandbox() = sandbox;
      pb::ValidateSandboxCreateResponse out;
      return stub.ValidateSandboxCreate(&ctx, in, &out);
    }
    case Rpc::kCreateOnly: {
      pb::CreateSandboxRequest in;
      *in.mutable_sandbox() = sandbox;
      pb::CreateSandboxResponse out;
      return stub.CreateSandbox(&ctx, in, &out);
    }
    case Rpc::kGet: {
      pb::GetSandboxRequest in;
      in.set_sandbox_id(c.id);
      in.set_name(c.lookup_name);
      pb::GetSandboxResponse out;
      return stub.GetSandbox(&ctx, in, &out);
    }
    case Rpc::kStop: {
      pb::StopSandboxRequest in;
      in.set_sandbox_id(c.id);
      in.set_name(c.lookup_name);
      pb::StopSandboxResponse out;
      return stub.StopSandbox(&ctx, in, &out);
    }
    case Rpc::kStart: {
      pb::StartSandboxRequest in;
      in.set_sandbox_id(c.id);
      in.set_name(c.lookup_name);
      pb::StartSandboxResponse out;
      return stub.StartSandbox(&ctx, in, &out);
    }
    case Rpc::kEnsureWorkspace: {
      pb::EnsureWorkspaceRequest in;
      in.set_workspace(c.id);
      pb::EnsureWorkspaceResponse out;
      return stub.EnsureWorkspace(&ctx, in, &out);
    }
    case Rpc::kDeleteWorkspace: {
      pb::DeleteWorkspaceRequest in;
      in.set_workspace(c.id);
      pb::DeleteWorkspaceResponse out;
      return stub.DeleteWorkspace(&ctx, in, &out);
    }
    case Rpc::kDelete: {
      pb::DeleteSandboxRequest in;
      in.set_sandbox_id(c.id);
      in.set_name(c.lookup_name);
      pb::DeleteSandboxResponse out;
      grpc::Status st = stub.DeleteSandbox(&ctx, in, &out);
      *deleted = out.deleted();
      return st;
    }
  }
  return grpc::Status(StatusCode::UNKNOWN, "unreachable");
}

// Sends the row's request(s) to a fresh driver that has one settled
// sandbox, and checks the answer and that the state dir did not change.
void RunCase(const Case& c) {
  DriverUnderTest driver;
  driver.CreateSettled(kExistingId, kExistingName);
  auto stub = driver.Connect();
  pb::DriverSandbox sandbox = BaseSandbox();
  if (c.mutate) c.mutate(sandbox, driver);

  // Records first: between the two file fingerprints only the driver runs.
  const std::vector<SandboxRecord> records_before = Records(driver.store());
  const Fingerprint files_before = FingerprintTree(driver.layout().root);
  const Fingerprint checkpoints_before = FingerprintTree(driver.checkpoint_dir());

  std::vector<Rpc> rpcs = {c.rpc};
  if (c.rpc == Rpc::kValidateAndCreate) rpcs.push_back(Rpc::kCreateOnly);
  for (Rpc rpc : rpcs) {
    INFO((rpc == Rpc::kValidateAndCreate ? "ValidateSandboxCreate" : "the RPC of the row"));
    bool deleted = false;
    const grpc::Status status = Send(*stub, rpc, sandbox, c, &deleted);
    Report(c.name, rpc == Rpc::kValidateAndCreate ? "Validate" : "RPC", status);
    CheckRefusal(c, status);
    CHECK_FALSE(deleted);
  }

  const Fingerprint files_after = FingerprintTree(driver.layout().root);
  const std::vector<std::string> changed = ChangedPaths(files_before, files_after);
  if (WalIndexContentChanged(files_before, files_after)) {
    WARN("state.db-shm (the WAL index) changed; forgiven, see state_fingerprint.h");
  }
  INFO("state dir changes: " << changed.size() << (changed.empty() ? "" : ", first: ")
                             << (changed.empty() ? "" : changed.front()));
  CHECK(changed.empty());
  CHECK(ChangedPaths(checkpoints_before, FingerprintTree(driver.checkpoint_dir())).empty());
  CHECK(Records(driver.store()) == records_before);
  CHECK_FALSE(absl::StrContains(driver.Logs(), kSecretToken));
}

TEST_CASE("the base request of the hostile table is valid", "[hostile]") {
  DriverUnderTest driver;
  auto stub = driver.Connect();
  grpc::ClientContext ctx;
  pb::ValidateSandboxCreateRequest in;
  *in.mutable_sandbox() = BaseSandbox();
  pb::ValidateSandboxCreateResponse out;
  grpc::Status st = stub->ValidateSandboxCreate(&ctx, in, &out);
  INFO(st.error_message());
  REQUIRE(st.ok());
}

TEST_CASE("hostile gateway requests are refused naming the field, changing nothing",
          "[hostile]") {
  static const std::vector<Case> cases = HostileCases();
  const size_t i = GENERATE(range(size_t{0}, cases.size()));
  DYNAMIC_SECTION(cases[i].name) { RunCase(cases[i]); }
}

TEST_CASE("oci: layouts outside operator-listed roots are refused through the socket",
          "[hostile][needs-oci-roots]") {
  static const std::vector<Case> cases = OciLayoutCases();
  const size_t i = GENERATE(range(size_t{0}, cases.size()));
  DYNAMIC_SECTION(cases[i].name) { RunCase(cases[i]); }
}

}  // namespace
}  // namespace osgv::testing
