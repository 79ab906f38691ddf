#include "lifecycle/bundle/sandbox_env.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace osgv {
namespace {

using Env = std::vector<std::string>;

constexpr char kSupervisorPath[] =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

std::optional<std::string> Get(const Env& env, const std::string& key) {
  std::optional<std::string> found;
  for (const auto& kv : env) {
    if (kv.rfind(key + "=", 0) == 0) {
      REQUIRE(!found);  // every key at most once
      found = kv.substr(key.size() + 1);
    }
  }
  return found;
}

bool KeysUnique(const Env& env) {
  std::vector<std::string> keys;
  for (const auto& kv : env) keys.push_back(kv.substr(0, kv.find('=')));
  std::sort(keys.begin(), keys.end());
  return std::adjacent_find(keys.begin(), keys.end()) == keys.end();
}

struct EnvFixture {
  Config config;
  SandboxRequest req;
  ImageConfig image;
  SandboxEnvInputs in;

  EnvFixture() {
    config.log.level = "debug";
    config.supervisor.binary = "/usr/libexec/openshell/openshell-sandbox";
    config.gateway.endpoint = "https://host.openshell.internal:8443";
    config.gateway.tls_ca = "/etc/osgv/tls/ca.crt";
    config.gateway.tls_cert = "/etc/osgv/tls/tls.crt";
    config.gateway.tls_key = "/etc/osgv/tls/tls.key";
    req.id = "sb-0001";
    req.name = "my-box";
    req.spec.tmpl.image = "oci:/images/app:latest";
    req.spec.command = {"/bin/sh", "-c", "echo hi"};
    req.spec.sandbox_token = "eyJhbGciOi.secret-token.sig";
    image.env = {"PATH=/image/bin", "IMG=1"};
    image.user = "app:staff";
    image.cmd = {"/image/default"};
    in.config = &config;
    in.request = &req;
    in.image = &image;
    in.supervisor = true;
    in.token_file = true;
    in.telemetry_enabled = "true";
  }

  Env Build() {
    auto env = BuildSandboxEnvironment(in);
    REQUIRE(env.ok());
    CHECK(KeysUnique(*env));
    return *env;
  }
};

// ---- the §6.3 table ---------------------------------------------------------

struct Row {
  const char* name;
  std::optional<std::string> value;  // what we set; nullopt = must be absent
  bool user_can_override;
};

// Every row of gateway-contract.md §6.3 that applies to this driver, with the
// fixture's values.
std::vector<Row> SupervisorTable() {
  return {
      {"HOME", "/root", true},
      {"TERM", "xterm", true},
      {"PATH", kSupervisorPath, false},
      {"OPENSHELL_ENDPOINT", "https://host.openshell.internal:8443", false},
      {"OPENSHELL_SANDBOX_ID", "sb-0001", false},
      {"OPENSHELL_SANDBOX", "my-box", false},
      {"OPENSHELL_SSH_SOCKET_PATH", "/run/openshell/ssh.sock", false},
      {"OPENSHELL_MAIN_PROCESS_SPEC", R"({"version":1,"command":["/bin/sh","-c","echo hi"],"tty":false})",
       false},
      {"OPENSHELL_LOG_LEVEL", "debug", false},
      {"OPENSHELL_TELEMETRY_ENABLED", "true", false},
      {"OPENSHELL_NETWORK_RUNTIME_CAPABILITIES", "", false},
      {"OPENSHELL_OCI_IMAGE_USER", "app:staff", false},
      {"OPENSHELL_SANDBOX_UID", "", false},
      {"OPENSHELL_SANDBOX_GID", "", false},
      {"OPENSHELL_TLS_CA", "/etc/openshell/tls/client/ca.crt", false},
      {"OPENSHELL_TLS_CERT", "/etc/openshell/tls/client/tls.crt", false},
      {"OPENSHELL_TLS_KEY", "/etc/openshell/tls/client/tls.key", false},
      {"OPENSHELL_SANDBOX_TOKEN_FILE", "/etc/openshell/auth/sandbox.jwt", false},
      {"OPENSHELL_SANDBOX_TOKEN", std::nullopt, false},
      {"OPENSHELL_GATEWAY_TLS_SERVER_NAME", std::nullopt, false},
  };
}

TEST_CASE("sandbox env: every §6.3 row, without user values", "[sandbox_env][table]") {
  EnvFixture f;
  Env env = f.Build();
  for (const Row& row : SupervisorTable()) {
    INFO(row.name);
    CHECK(Get(env, row.name) == row.value);
  }
  // No user env in the request: no OPENSHELL_USER_ENVIRONMENT.
  CHECK(!Get(env, "OPENSHELL_USER_ENVIRONMENT"));
}

TEST_CASE("sandbox env: every §6.3 row, with the user setting it at each layer",
          "[sandbox_env][table]") {
  const std::string spoof = "user-value";
  for (const char* layer : {"image", "template", "spec"}) {
    for (const Row& row : SupervisorTable()) {
      EnvFixture f;
      if (std::string(layer) == "image") f.image.env.push_back(std::string(row.name) + "=" + spoof);
      if (std::string(layer) == "template") f.req.spec.tmpl.environment[row.name] = spoof;
      if (std::string(layer) == "spec") f.req.spec.environment[row.name] = spoof;
      Env env = f.Build();
      INFO(layer << ": " << row.name);
      if (row.user_can_override) {
        CHECK(Get(env, row.name) == spoof);
      } else {
        CHECK(Get(env, row.name) == row.value);
      }
    }
  }
}

TEST_CASE("sandbox env: OPENSHELL_USER_ENVIRONMENT is driver-owned", "[sandbox_env][table]") {
  SECTION("a user value becomes part of the JSON, not the variable") {
    EnvFixture f;
    f.req.spec.environment["OPENSHELL_USER_ENVIRONMENT"] = "spoof";
    CHECK(Get(f.Build(), "OPENSHELL_USER_ENVIRONMENT") ==
          R"({"OPENSHELL_USER_ENVIRONMENT":"spoof"})");
  }
  SECTION("an image cannot plant one when the user env is empty") {
    EnvFixture f;
    f.image.env.push_back("OPENSHELL_USER_ENVIRONMENT={\"A\":\"1\"}");
    CHECK(!Get(f.Build(), "OPENSHELL_USER_ENVIRONMENT"));
  }
}

// ---- precedence -------------------------------------------------------------

TEST_CASE("sandbox env: image < template < spec for user keys", "[sandbox_env][precedence]") {
  EnvFixture f;
  f.image.env = {"A=image", "B=image", "C=image", "MALFORMED"};
  f.req.spec.tmpl.environment = {{"B", "template"}, {"C", "template"}};
  f.req.spec.environment = {{"C", "spec"}, {"D", "spec"}};
  Env env = f.Build();
  CHECK(Get(env, "A") == "image");
  CHECK(Get(env, "B") == "template");
  CHECK(Get(env, "C") == "spec");
  CHECK(Get(env, "D") == "spec");
  CHECK(!Get(env, "MALFORMED"));
}

TEST_CASE("sandbox env: defaults come first, driver keys after user keys",
          "[sandbox_env][precedence]") {
  EnvFixture f;
  f.image.env = {"IMG=1"};
  Env env = f.Build();
  REQUIRE(env.size() >= 4);
  CHECK(env[0] == "HOME=/root");
  CHECK(env[1] == "TERM=xterm");
  CHECK(env[2] == std::string("PATH=") + kSupervisorPath);
  CHECK(env[3] == "IMG=1");
}

TEST_CASE("sandbox env: the image's PATH does not survive in supervisor mode",
          "[sandbox_env][precedence]") {
  EnvFixture f;
  f.image.env = {"PATH=/opt/conda/bin:/usr/bin"};
  f.req.spec.environment = {{"PATH", "/spec/bin"}};
  CHECK(Get(f.Build(), "PATH") == kSupervisorPath);
}

// ---- removals -----------------------------------------------------------------

TEST_CASE("sandbox env: forbidden keys are removed from every layer", "[sandbox_env][remove]") {
  EnvFixture f;
  f.image.env = {"OPENSHELL_SANDBOX_TOKEN=img", "OPENSHELL_GATEWAY_TLS_SERVER_NAME=img"};
  f.req.spec.tmpl.environment = {{"OPENSHELL_SANDBOX_TOKEN", "tmpl"}};
  f.req.spec.environment = {{"OPENSHELL_GATEWAY_TLS_SERVER_NAME", "evil.example"}};
  Env env = f.Build();
  CHECK(!Get(env, "OPENSHELL_SANDBOX_TOKEN"));
  CHECK(!Get(env, "OPENSHELL_GATEWAY_TLS_SERVER_NAME"));
}

TEST_CASE("sandbox env: OPENSHELL_SANDBOX_TOKEN_FILE only with our token file",
          "[sandbox_env][remove]") {
  EnvFixture f;
  f.in.token_file = false;
  SECTION("absent without a token") { CHECK(!Get(f.Build(), "OPENSHELL_SANDBOX_TOKEN_FILE")); }
  SECTION("a user-supplied one is removed") {
    f.req.spec.environment = {{"OPENSHELL_SANDBOX_TOKEN_FILE", "/tmp/mine.jwt"}};
    f.image.env.push_back("OPENSHELL_SANDBOX_TOKEN_FILE=/img.jwt");
    CHECK(!Get(f.Build(), "OPENSHELL_SANDBOX_TOKEN_FILE"));
  }
}

TEST_CASE("sandbox env: TLS paths only with the whole trio", "[sandbox_env][remove]") {
  EnvFixture f;
  f.config.gateway.endpoint = "http://host.openshell.internal:8080";
  SECTION("none configured: absent, and user values removed") {
    f.config.gateway.tls_ca = f.config.gateway.tls_cert = f.config.gateway.tls_key = "";
    f.req.spec.environment = {{"OPENSHELL_TLS_CA", "/tmp/my-ca.crt"}};
    Env env = f.Build();
    CHECK(!Get(env, "OPENSHELL_TLS_CA"));
    CHECK(!Get(env, "OPENSHELL_TLS_CERT"));
    CHECK(!Get(env, "OPENSHELL_TLS_KEY"));
  }
  SECTION("a partial trio counts as none") {
    f.config.gateway.tls_key = "";
    CHECK(!Get(f.Build(), "OPENSHELL_TLS_CA"));
  }
}

TEST_CASE("sandbox env: the token value never appears", "[sandbox_env][remove]") {
  for (bool supervisor : {true, false}) {
    EnvFixture f;
    f.in.supervisor = supervisor;
    for (const auto& kv : f.Build()) {
      CHECK(kv.find(f.req.spec.sandbox_token) == std::string::npos);
    }
  }
}

// ---- OPENSHELL_MAIN_PROCESS_SPEC ------------------------------------------------

TEST_CASE("main process spec: exact compact JSON in upstream key order",
          "[sandbox_env][main_process]") {
  auto json = MainProcessSpecJson({"/bin/sh", "-c", "echo \"a b\"\tc\\d/é"}, true);
  REQUIRE(json.ok());
  CHECK(*json ==
        "{\"version\":1,\"command\":[\"/bin/sh\",\"-c\",\"echo \\\"a b\\\"\\tc\\\\d/é\"],"
        "\"tty\":true}");
}

TEST_CASE("main process spec: spec.command and tty from the request", "[sandbox_env][main_process]") {
  EnvFixture f;
  f.req.spec.command = {"python3", "-m", "http.server"};
  f.req.spec.tty = true;
  CHECK(Get(f.Build(), "OPENSHELL_MAIN_PROCESS_SPEC") ==
        R"({"version":1,"command":["python3","-m","http.server"],"tty":true})");
}

TEST_CASE("main process spec: the image's Entrypoint + Cmd without spec.command",
          "[sandbox_env][main_process]") {
  EnvFixture f;
  f.req.spec.command.clear();
  f.image.entrypoint = {"/entry", "--x"};
  f.image.cmd = {"serve"};
  CHECK(Get(f.Build(), "OPENSHELL_MAIN_PROCESS_SPEC") ==
        R"({"version":1,"command":["/entry","--x","serve"],"tty":false})");
}

TEST_CASE("main process spec: nothing to run is FAILED_PRECONDITION", "[sandbox_env][main_process]") {
  EnvFixture f;
  f.req.spec.command.clear();
  f.image.entrypoint.clear();
  f.image.cmd.clear();
  auto env = BuildSandboxEnvironment(f.in);
  REQUIRE(!env.ok());
  CHECK(env.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(env.status().message()), Catch::Contains("sandbox.spec.command"));
}

TEST_CASE("main process spec: invalid UTF-8 is INVALID_ARGUMENT without echo",
          "[sandbox_env][main_process]") {
  auto json = MainProcessSpecJson({"/bin/echo", "pass\xff" "word"}, false);
  REQUIRE(!json.ok());
  CHECK(json.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(json.status().message()), Catch::Contains("sandbox.spec.command"));
  CHECK(std::string(json.status().message()).find("word") == std::string::npos);
}

// ---- OPENSHELL_USER_ENVIRONMENT -------------------------------------------------

TEST_CASE("user environment: template then spec, sorted, compact", "[sandbox_env][user_env]") {
  SandboxSpec spec;
  spec.tmpl.environment = {{"B", "template"}, {"A", "x\"y"}};
  spec.environment = {{"B", "spec"}, {"C", ""}};
  auto json = UserEnvironmentJson(spec);
  REQUIRE(json.ok());
  CHECK(*json == R"({"A":"x\"y","B":"spec","C":""})");
}

TEST_CASE("user environment: empty without user env; the image's Env is not in it",
          "[sandbox_env][user_env]") {
  EnvFixture f;
  f.image.env = {"IMG=1"};
  CHECK(!Get(f.Build(), "OPENSHELL_USER_ENVIRONMENT"));
  SandboxSpec empty;
  auto json = UserEnvironmentJson(empty);
  REQUIRE(json.ok());
  CHECK(json->empty());
}

TEST_CASE("user environment: set from the request", "[sandbox_env][user_env]") {
  EnvFixture f;
  f.req.spec.tmpl.environment = {{"T", "1"}};
  f.req.spec.environment = {{"S", "2"}};
  std::optional<std::string> value = Get(f.Build(), "OPENSHELL_USER_ENVIRONMENT");
  REQUIRE(value);
  CHECK(nlohmann::json::parse(*value) == nlohmann::json({{"S", "2"}, {"T", "1"}}));
}

// ---- log level, telemetry ---------------------------------------------------

TEST_CASE("log level: spec wins, else the driver's mapped", "[sandbox_env][log_level]") {
  CHECK(SupervisorLogLevel("trace", "info") == "trace");
  for (const char* level : {"trace", "debug", "info", "warn", "error"}) {
    CHECK(SupervisorLogLevel("", level) == level);
  }
  CHECK(SupervisorLogLevel("", "critical") == "error");
  CHECK(SupervisorLogLevel("", "off") == "error");
  CHECK(SupervisorLogLevel("", "") == "info");

  EnvFixture f;
  f.req.spec.log_level = "warn";
  CHECK(Get(f.Build(), "OPENSHELL_LOG_LEVEL") == "warn");
}

TEST_CASE("telemetry: upstream's normalisation", "[sandbox_env][telemetry]") {
  CHECK(TelemetryEnabledValue(nullptr) == "true");
  CHECK(TelemetryEnabledValue("") == "true");
  CHECK(TelemetryEnabledValue("true") == "true");
  CHECK(TelemetryEnabledValue("1") == "true");
  for (const char* off : {"0", "false", "FALSE", " no ", "Off"}) {
    CHECK(TelemetryEnabledValue(off) == "false");
  }
  EnvFixture f;
  f.in.telemetry_enabled = "false";
  CHECK(Get(f.Build(), "OPENSHELL_TELEMETRY_ENABLED") == "false");
}

// ---- direct mode --------------------------------------------------------------

TEST_CASE("direct mode: the merged env plus the sandbox identity", "[sandbox_env][direct]") {
  EnvFixture f;
  f.in.supervisor = false;
  f.image.env = {"IMG=1"};
  f.req.spec.tmpl.environment = {{"T", "1"}, {"OPENSHELL_SANDBOX_ID", "spoof"}};
  f.req.spec.environment = {{"S", "2"}};
  Env env = f.Build();
  CHECK(env == Env{std::string("PATH=") + kSupervisorPath, "IMG=1", "OPENSHELL_SANDBOX_ID=sb-0001",
                   "T=1", "S=2", "OPENSHELL_SANDBOX=my-box",
                   "OPENSHELL_ENDPOINT=https://host.openshell.internal:8443"});
}

TEST_CASE("direct mode: OPENSHELL_ENDPOINT only when a gateway is configured", "[sandbox_env][direct]") {
  EnvFixture f;
  f.in.supervisor = false;
  f.req.spec.environment = {{"OPENSHELL_ENDPOINT", "http://spoofed:1"}};
  CHECK(Get(f.Build(), "OPENSHELL_ENDPOINT") == "https://host.openshell.internal:8443");
  f.config.gateway.endpoint.clear();
  CHECK(Get(f.Build(), "OPENSHELL_ENDPOINT") == "http://spoofed:1");  // the user's own, untouched
}

TEST_CASE("direct mode: a v0.1.x/Ryno sandbox gets no OPENSHELL_ENDPOINT of the driver's",
          "[sandbox_env][direct][generation]") {
  // Its policy fence closes the gateway port, so the address would mislead.
  EnvFixture f;
  f.in.supervisor = false;
  f.req.spec.generation = GatewayGeneration::kRyno;
  CHECK_FALSE(Get(f.Build(), "OPENSHELL_ENDPOINT"));
  CHECK(Get(f.Build(), "OPENSHELL_SANDBOX_ID") == f.req.id);
}

TEST_CASE("direct mode: no supervisor keys, forbidden keys removed", "[sandbox_env][direct]") {
  EnvFixture f;
  f.in.supervisor = false;
  f.req.spec.environment = {{"OPENSHELL_SANDBOX_TOKEN", "x"},
                            {"OPENSHELL_SANDBOX_TOKEN_FILE", "/x"},
                            {"OPENSHELL_GATEWAY_TLS_SERVER_NAME", "x"},
                            {"HOME", "/home/me"}};
  Env env = f.Build();
  CHECK(!Get(env, "OPENSHELL_SANDBOX_TOKEN"));
  CHECK(!Get(env, "OPENSHELL_SANDBOX_TOKEN_FILE"));
  CHECK(!Get(env, "OPENSHELL_GATEWAY_TLS_SERVER_NAME"));
  CHECK(!Get(env, "OPENSHELL_MAIN_PROCESS_SPEC"));
  CHECK(!Get(env, "TERM"));
  CHECK(Get(env, "HOME") == "/home/me");
  CHECK(Get(env, "PATH") == "/image/bin");  // the image's PATH stays in direct mode
}

TEST_CASE("direct mode: nothing to run is not the env's business", "[sandbox_env][direct]") {
  EnvFixture f;
  f.in.supervisor = false;
  f.req.spec.command.clear();
  f.image.cmd.clear();
  CHECK(BuildSandboxEnvironment(f.in).ok());  // BuildRuntimeSpec reports it
}

}  // namespace
}  // namespace osgv
