#include "capabilities/validation.h"

#include <catch2/catch.hpp>
#include <functional>
#include <string>

namespace osgv {
namespace {

using Code = absl::StatusCode;

constexpr const char* kToken = "eyJhbGciOiJFUzI1NiJ9.SECRET-TOKEN.sig";

// What the gateway sends for a plain `openshell sandbox create`.
SandboxRequest GoodRequest() {
  SandboxRequest request;
  request.id = "3f2b8c1e-9a4d-4c6e-8f1a-2b3c4d5e6f70";
  request.name = "my-sandbox";
  request.workspace = "default";
  request.spec.command = {"/bin/bash", "-l"};
  request.spec.tty = true;
  request.spec.sandbox_token = kToken;
  request.spec.tmpl.image = "ghcr.io/nvidia/openshell/sandbox:latest";
  return request;
}

Config GoodConfig() {
  Config config;
  config.socket.path = "/run/gvisor.sock";
  config.default_image = "";  // requests name their image; the cases below set it
  return config;
}

struct Rejection {
  std::string what;
  std::function<void(SandboxRequest&)> change;
  Code code;
  std::string message_start;
};

void CheckRejections(const std::vector<Rejection>& cases,
                     const Config& config = GoodConfig()) {
  for (const Rejection& c : cases) {
    SandboxRequest request = GoodRequest();
    c.change(request);
    absl::StatusOr<ValidatedSandbox> result =
        ValidateSandboxRequest(request, config);
    CAPTURE(c.what);
    REQUIRE_FALSE(result.ok());
    const std::string message(result.status().message());
    CAPTURE(message);
    CHECK(result.status().code() == c.code);
    CHECK_THAT(message, Catch::StartsWith(c.message_start));
    CHECK_THAT(message, !Catch::Contains("SECRET-TOKEN"));
  }
}

TEST_CASE("a plain request is valid and takes the config defaults",
          "[validation]") {
  Config config = GoodConfig();
  config.sandbox.memory_limit_bytes = 1 << 30;
  config.sandbox.cpu_limit_millis = 2000;
  config.sandbox.pids_limit = 4096;
  absl::StatusOr<ValidatedSandbox> result =
      ValidateSandboxRequest(GoodRequest(), config);
  INFO(result.status().ToString());
  REQUIRE(result.ok());
  CHECK(result->memory_limit_bytes == 1 << 30);
  CHECK(result->cpu_limit_millis == 2000);
  CHECK(result->pids_limit == 4096);
  CHECK_FALSE(result->driver_config.pids_limit.has_value());
}

TEST_CASE("a request using every field is valid", "[validation]") {
  SandboxRequest request = GoodRequest();
  request.namespace_name = "";
  request.workspace = "";
  request.spec.log_level = "debug";
  request.spec.environment = {{"FOO", "bar baz"}, {"_x1", ""}};
  request.spec.tmpl.environment = {{"PATH", "/usr/bin:/bin"}};
  request.spec.tmpl.labels = {{"app", "demo"},
                              {"example.com/team", "a.b_c-d"},
                              {"k8s.io/empty", ""}};
  request.spec.tmpl.resources =
      ResourceRequirements{"250m", "1", "256Mi", "512Mi"};
  request.spec.tmpl.driver_config_json = R"({"pids_limit": 2048})";
  request.spec.tmpl.platform_config_json = "{}";
  request.spec.command = {};  // the image's entrypoint

  Config config = GoodConfig();
  config.sandbox.memory_limit_bytes = 1 << 30;
  absl::StatusOr<ValidatedSandbox> result =
      ValidateSandboxRequest(request, config);
  INFO(result.status().ToString());
  REQUIRE(result.ok());
  CHECK(result->memory_limit_bytes == 512ULL << 20);
  CHECK(result->cpu_limit_millis == 1000);
  CHECK(result->pids_limit == 2048);
  CHECK(result->driver_config.pids_limit == 2048u);
}

TEST_CASE("defaults: empty image and zero pids_limit", "[validation]") {
  SandboxRequest request = GoodRequest();
  request.spec.tmpl.image = "";
  request.spec.tmpl.driver_config_json = R"({"pids_limit": 0})";
  request.spec.tmpl.resources = ResourceRequirements{"", "", "", "128Mi"};
  Config config = GoodConfig();
  config.default_image = "docker.io/library/busybox:1.36";
  config.sandbox.pids_limit = 0;
  config.sandbox.cpu_limit_millis = 500;
  absl::StatusOr<ValidatedSandbox> result =
      ValidateSandboxRequest(request, config);
  INFO(result.status().ToString());
  REQUIRE(result.ok());
  CHECK(result->pids_limit == 0);
  CHECK(result->driver_config.pids_limit == 0u);
  CHECK(result->memory_limit_bytes == 128ULL << 20);
  CHECK(result->cpu_limit_millis == 500);
}

TEST_CASE("identity fields are checked", "[validation]") {
  CheckRejections({
      {"empty id", [](SandboxRequest& r) { r.id = ""; }, Code::kInvalidArgument,
       "sandbox.id: required"},
      {"id with slash", [](SandboxRequest& r) { r.id = "a/b"; },
       Code::kInvalidArgument, "sandbox.id: must be at most 128 characters"},
      {"id ..", [](SandboxRequest& r) { r.id = ".."; }, Code::kInvalidArgument,
       "sandbox.id: must be"},
      {"id option", [](SandboxRequest& r) { r.id = "-rf"; },
       Code::kInvalidArgument, "sandbox.id: must be"},
      {"id too long", [](SandboxRequest& r) { r.id = std::string(129, 'a'); },
       Code::kInvalidArgument, "sandbox.id: must be"},
      {"id with NUL", [](SandboxRequest& r) { r.id = std::string("a\0b", 3); },
       Code::kInvalidArgument, "sandbox.id: must be"},
      {"empty name", [](SandboxRequest& r) { r.name = ""; },
       Code::kInvalidArgument, "sandbox.name: required"},
      {"uppercase name", [](SandboxRequest& r) { r.name = "Bad_Name"; },
       Code::kInvalidArgument,
       "sandbox.name: must be a DNS-1123 label: 1 to 63 characters of a-z, "
       "0-9 and '-', starting and ending with a letter or digit (got "
       "'Bad_Name')"},
      {"name with slash", [](SandboxRequest& r) { r.name = "a/b"; },
       Code::kInvalidArgument, "sandbox.name: must be a DNS-1123 label"},
      {"name ..", [](SandboxRequest& r) { r.name = ".."; },
       Code::kInvalidArgument, "sandbox.name: must be a DNS-1123 label"},
      {"name NUL", [](SandboxRequest& r) { r.name = std::string("a\0", 2); },
       Code::kInvalidArgument, "sandbox.name: must be a DNS-1123 label"},
      {"name leading dash", [](SandboxRequest& r) { r.name = "-a"; },
       Code::kInvalidArgument, "sandbox.name: must be a DNS-1123 label"},
      {"name trailing dash", [](SandboxRequest& r) { r.name = "a-"; },
       Code::kInvalidArgument, "sandbox.name: must be a DNS-1123 label"},
      {"name 64 chars", [](SandboxRequest& r) { r.name = std::string(64, 'a'); },
       Code::kInvalidArgument, "sandbox.name: must be a DNS-1123 label"},
      {"bad workspace", [](SandboxRequest& r) { r.workspace = "My Space"; },
       Code::kInvalidArgument,
       "sandbox.workspace: must be empty or a DNS-1123 label"},
      {"bad namespace", [](SandboxRequest& r) { r.namespace_name = "ns/x"; },
       Code::kInvalidArgument,
       "sandbox.namespace: must be empty or a DNS-1123 label"},
  });
}

TEST_CASE("environment keys and values are checked", "[validation]") {
  CheckRejections({
      {"digit first",
       [](SandboxRequest& r) { r.spec.environment["1BAD"] = "x"; },
       Code::kInvalidArgument,
       "sandbox.spec.environment[\"1BAD\"]: not a valid variable name"},
      {"equals sign",
       [](SandboxRequest& r) { r.spec.environment["A=B"] = "x"; },
       Code::kInvalidArgument, "sandbox.spec.environment[\"A=B\"]:"},
      {"empty key", [](SandboxRequest& r) { r.spec.environment[""] = "x"; },
       Code::kInvalidArgument, "sandbox.spec.environment[\"\"]:"},
      {"NUL in value",
       [](SandboxRequest& r) {
         r.spec.environment["API_KEY"] = std::string("hunter2\0x", 9);
       },
       Code::kInvalidArgument,
       "sandbox.spec.environment[\"API_KEY\"]: value contains a NUL byte"},
      {"template env",
       [](SandboxRequest& r) { r.spec.tmpl.environment["X-Y"] = "1"; },
       Code::kInvalidArgument,
       "sandbox.spec.template.environment[\"X-Y\"]: not a valid variable "
       "name"},
      {"template env NUL",
       [](SandboxRequest& r) {
         r.spec.tmpl.environment["OK"] = std::string("\0", 1);
       },
       Code::kInvalidArgument,
       "sandbox.spec.template.environment[\"OK\"]: value contains a NUL"},
  });
}

TEST_CASE("environment values are never echoed", "[validation]") {
  SandboxRequest request = GoodRequest();
  request.spec.environment["TOKEN"] = std::string("s3cr3t\0", 7);
  absl::StatusOr<ValidatedSandbox> result =
      ValidateSandboxRequest(request, GoodConfig());
  REQUIRE_FALSE(result.ok());
  CHECK_THAT(std::string(result.status().message()),
             !Catch::Contains("s3cr3t"));
}

TEST_CASE("template labels follow Kubernetes rules", "[validation]") {
  const std::string too_long_prefix = std::string(250, 'a') + ".com";
  CheckRejections({
      {"space in key",
       [](SandboxRequest& r) { r.spec.tmpl.labels["bad key"] = "v"; },
       Code::kInvalidArgument,
       "sandbox.spec.template.labels[\"bad key\"]: key name 'bad key' must "
       "be 1 to 63 characters"},
      {"uppercase prefix",
       [](SandboxRequest& r) { r.spec.tmpl.labels["Example.com/x"] = "v"; },
       Code::kInvalidArgument,
       "sandbox.spec.template.labels[\"Example.com/x\"]: key prefix "
       "'Example.com' must be a DNS-1123 subdomain"},
      {"empty prefix",
       [](SandboxRequest& r) { r.spec.tmpl.labels["/x"] = "v"; },
       Code::kInvalidArgument,
       "sandbox.spec.template.labels[\"/x\"]: key prefix '' must be"},
      {"two slashes",
       [](SandboxRequest& r) { r.spec.tmpl.labels["a.com/b/c"] = "v"; },
       Code::kInvalidArgument,
       "sandbox.spec.template.labels[\"a.com/b/c\"]: key name 'b/c'"},
      {"empty name",
       [](SandboxRequest& r) { r.spec.tmpl.labels["a.com/"] = "v"; },
       Code::kInvalidArgument, "sandbox.spec.template.labels[\"a.com/\"]:"},
      {"long prefix",
       [too_long_prefix](SandboxRequest& r) {
         r.spec.tmpl.labels[too_long_prefix + "/x"] = "v";
       },
       Code::kInvalidArgument, "sandbox.spec.template.labels["},
      {"bad value",
       [](SandboxRequest& r) { r.spec.tmpl.labels["app"] = "-x"; },
       Code::kInvalidArgument,
       "sandbox.spec.template.labels[\"app\"]: value '-x' must be empty or "
       "at most 63 characters"},
      {"long value",
       [](SandboxRequest& r) {
         r.spec.tmpl.labels["app"] = std::string(64, 'v');
       },
       Code::kInvalidArgument, "sandbox.spec.template.labels[\"app\"]: value"},
  });
}

TEST_CASE("label helpers", "[validation]") {
  for (const char* key : {"a", "app.kubernetes.io/name", "x/Y_z.1",
                          "A1", "openshell.ai/sandbox-id"}) {
    CAPTURE(key);
    CHECK(ValidateLabelKey(key).ok());
  }
  CHECK(ValidateLabelKey(std::string(63, 'p') + ".example.com/" +
                         std::string(63, 'n'))
            .ok());
  CHECK_FALSE(ValidateLabelKey("x/" + std::string(64, 'n')).ok());
  for (const char* key : {"", "_a", "a_", "a b", "a..com./x", "-a.com/x"}) {
    CAPTURE(key);
    CHECK(ValidateLabelKey(key).code() == Code::kInvalidArgument);
  }
  CHECK(ValidateLabelValue("").ok());
  CHECK(ValidateLabelValue("v1.2_3-x").ok());
  CHECK_FALSE(ValidateLabelValue("v/1").ok());

  CHECK(IsDns1123Label("a"));
  CHECK(IsDns1123Label("a-1"));
  CHECK_FALSE(IsDns1123Label("a.b"));
  CHECK_FALSE(IsDns1123Label("A"));
  CHECK(IsPosixEnvName("_"));
  CHECK(IsPosixEnvName("a1_B"));
  CHECK_FALSE(IsPosixEnvName("1a"));
  CHECK_FALSE(IsPosixEnvName("é"));
}

TEST_CASE("resources are parsed and requests fit their limits",
          "[validation]") {
  auto with = [](ResourceRequirements resources) {
    return [resources](SandboxRequest& r) { r.spec.tmpl.resources = resources; };
  };
  CheckRejections({
      {"bad cpu limit", with({"", "two", "", ""}), Code::kInvalidArgument,
       "sandbox.spec.template.resources.cpu_limit: not a quantity: 'two'"},
      {"zero cpu limit", with({"", "0", "", ""}), Code::kInvalidArgument,
       "sandbox.spec.template.resources.cpu_limit: quantity '0' must be "
       "greater than zero"},
      {"bad cpu request", with({"1 core", "", "", ""}), Code::kInvalidArgument,
       "sandbox.spec.template.resources.cpu_request: not a quantity"},
      {"cpu request over limit", with({"2", "1", "", ""}),
       Code::kInvalidArgument,
       "sandbox.spec.template.resources.cpu_request: 2 exceeds cpu_limit 1"},
      {"bad memory limit", with({"", "", "", "1GB"}), Code::kInvalidArgument,
       "sandbox.spec.template.resources.memory_limit: not a quantity: "
       "'1GB'"},
      {"negative memory request", with({"", "", "-1Mi", ""}),
       Code::kInvalidArgument,
       "sandbox.spec.template.resources.memory_request: quantity '-1Mi' "
       "must be greater than zero"},
      {"memory request over limit", with({"", "", "1Gi", "512Mi"}),
       Code::kInvalidArgument,
       "sandbox.spec.template.resources.memory_request: 1Gi exceeds "
       "memory_limit 512Mi"},
  });

  SandboxRequest request = GoodRequest();
  request.spec.tmpl.resources = ResourceRequirements{"1", "1000m", "1Gi", "1024Mi"};
  CHECK(ValidateSandboxRequest(request, GoodConfig()).ok());
  request.spec.tmpl.resources = ResourceRequirements{"8", "", "64Gi", ""};
  absl::StatusOr<ValidatedSandbox> result =
      ValidateSandboxRequest(request, GoodConfig());
  REQUIRE(result.ok());  // a request alone sets no limit
  CHECK(result->cpu_limit_millis == 0);
  CHECK(result->memory_limit_bytes == 0);
}

TEST_CASE("command and log level", "[validation]") {
  CheckRejections({
      {"NUL in argument",
       [](SandboxRequest& r) {
         r.spec.command = {"/bin/sh", "-c", std::string("echo\0hi", 7)};
       },
       Code::kInvalidArgument,
       "sandbox.spec.command[2]: contains a NUL byte"},
      {"empty program", [](SandboxRequest& r) { r.spec.command = {""}; },
       Code::kInvalidArgument,
       "sandbox.spec.command[0]: the program must not be empty"},
      {"unknown log level",
       [](SandboxRequest& r) { r.spec.log_level = "verbose"; },
       Code::kInvalidArgument,
       "sandbox.spec.log_level: must be empty or one of trace, debug, info, "
       "warn, error (got 'verbose')"},
      {"critical is not a supervisor level",
       [](SandboxRequest& r) { r.spec.log_level = "critical"; },
       Code::kInvalidArgument, "sandbox.spec.log_level:"},
  });
}

TEST_CASE("image must be present and plain text", "[validation]") {
  CheckRejections({
      {"no image, no default", [](SandboxRequest& r) { r.spec.tmpl.image = ""; },
       Code::kFailedPrecondition,
       "sandbox.spec.template.image: empty and the driver has no "
       "default_image configured"},
      {"space in image",
       [](SandboxRequest& r) { r.spec.tmpl.image = "busybox latest"; },
       Code::kInvalidArgument,
       "sandbox.spec.template.image: must not contain whitespace or control "
       "characters (got 'busybox latest')"},
      {"NUL in image",
       [](SandboxRequest& r) {
         r.spec.tmpl.image = std::string("busybox\0", 8);
       },
       Code::kInvalidArgument,
       "sandbox.spec.template.image: must not contain whitespace"},
  });

  CheckRejections({
      {"malformed reference",
       [](SandboxRequest& r) { r.spec.tmpl.image = "ghcr.io/Bad/x:latest"; },
       Code::kInvalidArgument,
       "sandbox.spec.template.image: invalid image reference 'ghcr.io/Bad/x:latest': "
       "repository component 'Bad'"},
      {"digest too short",
       [](SandboxRequest& r) { r.spec.tmpl.image = "busybox@sha256:abc"; },
       Code::kInvalidArgument,
       "sandbox.spec.template.image: invalid image reference 'busybox@sha256:abc'"},
      {"relative layout",
       [](SandboxRequest& r) { r.spec.tmpl.image = "oci:images/x"; },
       Code::kInvalidArgument, "sandbox.spec.template.image: invalid image reference"},
  });
  SandboxRequest pull = GoodRequest();
  pull.spec.tmpl.driver_config_json = R"({"pull_policy": "always"})";
  absl::StatusOr<ValidatedSandbox> pulled = ValidateSandboxRequest(pull, GoodConfig());
  REQUIRE(pulled.ok());
  CHECK(pulled->driver_config.pull_policy == PullPolicy::kAlways);

  Config config = GoodConfig();
  config.default_image = "bad image";
  CheckRejections({{"bad default", [](SandboxRequest& r) { r.spec.tmpl.image = ""; },
                    Code::kInvalidArgument,
                    "sandbox.spec.template.image: must not contain whitespace "
                    "or control characters (from default_image)"}},
                  config);
}

TEST_CASE("an oci: layout must lie under images.oci_roots, never in the driver's state",
          "[validation][oci_roots]") {
  Config config = GoodConfig();
  config.state_dir = "/srv/state";
  config.checkpoint_dir = "/srv/checkpoints";
  auto accepts = [&](const std::string& image) {
    SandboxRequest request = GoodRequest();
    request.spec.tmpl.image = image;
    absl::StatusOr<ValidatedSandbox> result = ValidateSandboxRequest(request, config);
    CAPTURE(image, result.status().ToString());
    return result.ok();
  };
  auto image = [](std::string ref) {
    return [ref](SandboxRequest& r) { r.spec.tmpl.image = ref; };
  };
  const std::string kNotUnder = "sandbox.spec.template.image: OCI layout ";

  SECTION("no roots: every layout is refused, naming the setting") {
    CheckRejections({{"/etc", image("oci:/etc"), Code::kFailedPrecondition,
                      kNotUnder + "/etc is not under any directory in images.oci_roots (none "
                                  "configured); the operator allows it by adding"}},
                    config);
    CHECK(accepts("docker.io/library/busybox:1.36"));
  }
  config.images.oci_roots = {"/srv/img"};
  SECTION("under a root, on whole components only") {
    CHECK(accepts("oci:/srv/img"));
    CHECK(accepts("oci:/srv/img/base:v1"));
    CHECK(accepts("oci:/srv/img/./a/../base/"));
    CheckRejections(
        {
            {"sibling prefix", image("oci:/srv/images2:v1"), Code::kFailedPrecondition,
             kNotUnder + "/srv/images2 is not under any directory in images.oci_roots; "},
            {"'..' out of the root", image("oci:/srv/img/../../etc"),
             Code::kFailedPrecondition, kNotUnder + "/etc is not under"},
            {"the root's parent", image("oci:/srv"), Code::kFailedPrecondition,
             kNotUnder + "/srv is not under"},
        },
        config);
  }
  SECTION("the state and checkpoint dirs stay refused when a root covers them") {
    config.images.oci_roots = {"/srv"};
    CHECK(accepts("oci:/srv/img/base"));
    CheckRejections(
        {
            {"writable layer", image("oci:/srv/state/sandboxes/abc/upper:v1"),
             Code::kFailedPrecondition,
             kNotUnder + "/srv/state/sandboxes/abc/upper is inside the driver's own state"},
            {"state dir itself", image("oci:/srv/state"), Code::kFailedPrecondition,
             kNotUnder + "/srv/state is inside the driver's own state"},
            {"checkpoint dir", image("oci:/srv/checkpoints/x"), Code::kFailedPrecondition,
             kNotUnder + "/srv/checkpoints/x is inside the driver's own state"},
            {"'..' into the state dir", image("oci:/srv/img/../state/x"),
             Code::kFailedPrecondition, kNotUnder + "/srv/state/x is inside"},
        },
        config);
  }
  SECTION("an oci: default_image is the operator's choice") {
    config.default_image = "oci:/opt/base:v1";
    CHECK(accepts(""));
    CHECK(accepts("oci:/opt/base:v2"));  // the same directory, another tag
    CHECK_FALSE(accepts("oci:/opt/other"));
  }
}

TEST_CASE("features the driver cannot serve", "[validation]") {
  CheckRejections({
      {"gpu", [](SandboxRequest& r) { r.spec.gpu_requested = true; },
       Code::kFailedPrecondition,
       "sandbox.spec.resource_requirements.gpu: GPUs are not supported by "
       "the gvisor driver"},
      {"agent socket",
       [](SandboxRequest& r) {
         r.spec.tmpl.agent_socket_path = "/run/agent.sock";
       },
       Code::kFailedPrecondition,
       "sandbox.spec.template.agent_socket_path: not supported by the gvisor "
       "driver (got '/run/agent.sock')"},
      {"platform config",
       [](SandboxRequest& r) {
         r.spec.tmpl.platform_config_json =
             R"({"runtime_class_name": "gvisor", "annotations": {}})";
       },
       Code::kFailedPrecondition,
       "sandbox.spec.template.platform_config: not supported by the gvisor "
       "driver (got keys: annotations, runtime_class_name)"},
      {"platform config not JSON",
       [](SandboxRequest& r) { r.spec.tmpl.platform_config_json = "{"; },
       Code::kInvalidArgument,
       "sandbox.spec.template.platform_config: not valid JSON"},
      {"platform config not an object",
       [](SandboxRequest& r) { r.spec.tmpl.platform_config_json = "[1]"; },
       Code::kInvalidArgument,
       "sandbox.spec.template.platform_config: must be a JSON object (got "
       "array)"},
  });
}

TEST_CASE("malformed input is reported before unsupported features",
          "[validation]") {
  CheckRejections({
      {"bad name and gpu",
       [](SandboxRequest& r) {
         r.name = "BAD";
         r.spec.gpu_requested = true;
       },
       Code::kInvalidArgument, "sandbox.name:"},
  });
}

TEST_CASE("driver_config schema", "[validation]") {
  auto with = [](std::string json) {
    return [json](SandboxRequest& r) { r.spec.tmpl.driver_config_json = json; };
  };
  CheckRejections({
      {"unknown key", with(R"({"foo": 1})"), Code::kInvalidArgument,
       "sandbox.spec.template.driver_config.foo: unknown key (known: "
       "pids_limit, network_mode, pull_policy)"},
      {"pull policy unknown", with(R"({"pull_policy": "sometimes"})"), Code::kInvalidArgument,
       "sandbox.spec.template.driver_config.pull_policy: must be \"if-not-present\", "
       "\"always\" or \"never\" (got \"sometimes\")"},
      {"network mode host", with(R"({"network_mode": "host"})"), Code::kInvalidArgument,
       "sandbox.spec.template.driver_config.network_mode: must be \"none\" or \"sandbox\""},
      {"network mode number", with(R"({"network_mode": 1})"), Code::kInvalidArgument,
       "sandbox.spec.template.driver_config.network_mode: must be"},
      {"network on a driver without one", with(R"({"network_mode": "sandbox"})"),
       Code::kFailedPrecondition,
       "sandbox.spec.template.driver_config.network_mode: this driver runs with network.mode none"},
      {"odd unknown key", with(R"({"a b\n": 1})"), Code::kInvalidArgument,
       "sandbox.spec.template.driver_config[\"a b\\n\"]: unknown key"},
      {"string pids", with(R"({"pids_limit": "2048"})"),
       Code::kInvalidArgument,
       "sandbox.spec.template.driver_config.pids_limit: must be 0 (the "
       "driver default) or an integer between 256 and 1048576"},
      {"fractional pids", with(R"({"pids_limit": 1024.5})"),
       Code::kInvalidArgument,
       "sandbox.spec.template.driver_config.pids_limit: must be"},
      {"small pids", with(R"({"pids_limit": 64})"), Code::kInvalidArgument,
       "sandbox.spec.template.driver_config.pids_limit: must be"},
      {"huge pids", with(R"({"pids_limit": 1048577})"), Code::kInvalidArgument,
       "sandbox.spec.template.driver_config.pids_limit: must be"},
      {"negative pids", with(R"({"pids_limit": -1})"), Code::kInvalidArgument,
       "sandbox.spec.template.driver_config.pids_limit: must be"},
      {"null pids", with(R"({"pids_limit": null})"), Code::kInvalidArgument,
       "sandbox.spec.template.driver_config.pids_limit: must be"},
      {"array", with("[]"), Code::kInvalidArgument,
       "sandbox.spec.template.driver_config: must be a JSON object (got "
       "array)"},
      {"string", with(R"("pids")"), Code::kInvalidArgument,
       "sandbox.spec.template.driver_config: must be a JSON object (got "
       "string)"},
      {"garbage", with("pids_limit=1"), Code::kInvalidArgument,
       "sandbox.spec.template.driver_config: not valid JSON"},
  });
}

TEST_CASE("a sandbox is networked when the driver is and it does not opt out", "[validation]") {
  Config config = GoodConfig();
  auto networked = [&](const std::string& driver_config) {
    SandboxRequest r = GoodRequest();
    r.spec.tmpl.driver_config_json = driver_config;
    auto v = ValidateSandboxRequest(r, config);
    REQUIRE(v.ok());
    return v->networked;
  };
  CHECK_FALSE(networked(""));
  CHECK_FALSE(networked(R"({"network_mode": "none"})"));
  config.gateway.endpoint = "http://host.openshell.internal:8080";  // mode "" -> sandbox
  CHECK(networked(""));
  CHECK(networked(R"({"network_mode": "sandbox"})"));
  CHECK_FALSE(networked(R"({"network_mode": "none"})"));
  config.network.mode = NetworkMode::kNone;
  CHECK_FALSE(networked(""));
}

TEST_CASE("ParseDriverConfig", "[validation]") {
  for (const char* empty : {"", "{}", " { } "}) {
    absl::StatusOr<DriverConfigOptions> options = ParseDriverConfig(empty);
    REQUIRE(options.ok());
    CHECK_FALSE(options->pids_limit.has_value());
  }
  struct Case {
    std::string json;
    uint64_t pids;
  };
  const Case cases[] = {{R"({"pids_limit": 256})", 256},
                        {R"({"pids_limit": 1048576})", 1048576},
                        {R"({"pids_limit": 2048.0})", 2048},  // Struct double
                        {R"({"pids_limit": 0})", 0}};
  for (const Case& c : cases) {
    CAPTURE(c.json);
    absl::StatusOr<DriverConfigOptions> options = ParseDriverConfig(c.json);
    REQUIRE(options.ok());
    CHECK(options->pids_limit == c.pids);
  }
}

}  // namespace
}  // namespace osgv
