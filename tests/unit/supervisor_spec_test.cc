#include "temp_dir.h"
#include "lifecycle/bundle/supervisor_spec.h"

#include <stdlib.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "lifecycle/bundle/sandbox_env.h"

namespace osgv {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using Strings = std::vector<std::string>;

std::optional<std::string> Get(const Strings& env, const std::string& key) {
  for (const auto& kv : env) {
    if (kv.rfind(key + "=", 0) == 0) return kv.substr(key.size() + 1);
  }
  return std::nullopt;
}

const BindMount* FindMount(const SupervisorSpec& spec, const std::string& destination) {
  for (const auto& m : spec.mounts) {
    if (m.destination == destination) return &m;
  }
  return nullptr;
}

struct SupFixture {
  Config config;
  SandboxRequest req;
  ImageConfig image;
  SupervisorInputs in;

  SupFixture() {
    config.supervisor.binary = "/usr/libexec/openshell/openshell-sandbox";
    config.gateway.endpoint = "http://10.89.0.1:8080";
    req.id = "sb-1";
    req.name = "box";
    req.spec.command = {"/bin/sleep", "infinity"};
    req.spec.sandbox_token = "eyJ.token.value";
    image.user = "1000";
    in.config = &config;
    in.request = &req;
    in.image = &image;
    in.token_file = "/var/lib/osgv/sandboxes/osgv-1/auth/sandbox.jwt";
  }

  SupervisorSpec Build() {
    auto spec = BuildSupervisorSpec(in);
    REQUIRE(spec.ok());
    return *spec;
  }

  absl::Status Error() {
    auto spec = BuildSupervisorSpec(in);
    REQUIRE(!spec.ok());
    return spec.status();
  }

  void SetTls() {
    config.gateway.endpoint = "https://gw.example:8443";
    config.gateway.tls_ca = "/etc/osgv/ca.crt";
    config.gateway.tls_cert = "/etc/osgv/tls.crt";
    config.gateway.tls_key = "/etc/osgv/tls.key";
  }
};

TEST_CASE("supervisor: enabled by supervisor.binary", "[supervisor]") {
  Config config;
  CHECK(!SupervisorEnabled(config));
  config.supervisor.binary = "/x";
  CHECK(SupervisorEnabled(config));
}

TEST_CASE("supervisor: args are the binary, --workdir and extra_args only", "[supervisor]") {
  SupFixture f;
  CHECK(f.Build().process.args ==
        Strings{"/opt/openshell/bin/openshell-sandbox", "--workdir", "/sandbox"});
  f.config.supervisor.workdir = "/workspace";
  f.config.supervisor.extra_args = {"--upstream-proxy", "http://proxy:3128",
                                    "--upstream-proxy-connect-by-hostname"};
  CHECK(f.Build().process.args ==
        Strings{"/opt/openshell/bin/openshell-sandbox", "--workdir", "/workspace",
                "--upstream-proxy", "http://proxy:3128", "--upstream-proxy-connect-by-hostname"});
}

TEST_CASE("supervisor: no positional command, whatever the request", "[supervisor]") {
  SupFixture f;
  f.req.spec.command = {"/bin/bash", "-l"};
  SupervisorSpec spec = f.Build();
  // The main process is only in OPENSHELL_MAIN_PROCESS_SPEC.
  for (const auto& arg : f.req.spec.command) {
    CHECK(std::find(spec.process.args.begin(), spec.process.args.end(), arg) ==
          spec.process.args.end());
  }
  CHECK(Get(spec.process.env, "OPENSHELL_MAIN_PROCESS_SPEC") ==
        R"({"version":1,"command":["/bin/bash","-l"],"tty":false})");

  SECTION("a bare -- in extra_args is refused") {
    f.config.supervisor.extra_args = {"--", "/bin/sh"};
    absl::Status st = f.Error();
    CHECK(st.code() == absl::StatusCode::kFailedPrecondition);
    CHECK_THAT(std::string(st.message()), Catch::StartsWith("supervisor.extra_args: "));
  }
}

TEST_CASE("supervisor: root, cwd /, whatever the image's user", "[supervisor]") {
  SupFixture f;
  f.image.user = "app";
  f.image.working_dir = "/srv";
  SupervisorSpec spec = f.Build();
  CHECK(spec.process.uid == 0);
  CHECK(spec.process.gid == 0);
  CHECK(spec.process.cwd == "/");
  // The image user reaches the supervisor as data instead.
  CHECK(Get(spec.process.env, "OPENSHELL_OCI_IMAGE_USER") == "app");
}

TEST_CASE("supervisor: the capability set of §6.5", "[supervisor]") {
  SupFixture f;
  Strings caps = f.Build().process.capabilities;
  CHECK(caps == SupervisorCapabilities());
  Strings expected = {"CAP_SYS_ADMIN",    "CAP_NET_ADMIN",  "CAP_SYS_PTRACE", "CAP_SYSLOG",
                      "CAP_SETUID",       "CAP_SETGID",     "CAP_SETPCAP",    "CAP_CHOWN",
                      "CAP_FOWNER",       "CAP_DAC_READ_SEARCH", "CAP_DAC_OVERRIDE", "CAP_FSETID",
                      "CAP_KILL",         "CAP_NET_RAW",    "CAP_NET_BIND_SERVICE", "CAP_MKNOD",
                      "CAP_AUDIT_WRITE",  "CAP_SYS_CHROOT"};
  Strings sorted_caps = caps, sorted_expected = expected;
  std::sort(sorted_caps.begin(), sorted_caps.end());
  std::sort(sorted_expected.begin(), sorted_expected.end());
  CHECK(sorted_caps == sorted_expected);
  // Not needed by anything in the sandbox: file capabilities, modules, the clock.
  for (const char* absent : {"CAP_SETFCAP", "CAP_SYS_MODULE", "CAP_SYS_TIME", "CAP_SYS_RAWIO"}) {
    CHECK(std::find(caps.begin(), caps.end(), absent) == caps.end());
  }
}

TEST_CASE("supervisor: mounts are read-only binds of the binary and token", "[supervisor]") {
  SupFixture f;
  SupervisorSpec spec = f.Build();
  REQUIRE(spec.mounts.size() == 2);
  const BindMount* bin = FindMount(spec, "/opt/openshell/bin/openshell-sandbox");
  REQUIRE(bin);
  CHECK(bin->source == "/usr/libexec/openshell/openshell-sandbox");
  const BindMount* token = FindMount(spec, "/etc/openshell/auth/sandbox.jwt");
  REQUIRE(token);
  CHECK(token->source == "/var/lib/osgv/sandboxes/osgv-1/auth/sandbox.jwt");
  for (const auto& m : spec.mounts) CHECK(m.read_only);
}

TEST_CASE("supervisor: token mount and env only with a token file", "[supervisor]") {
  SupFixture f;
  CHECK(Get(f.Build().process.env, "OPENSHELL_SANDBOX_TOKEN_FILE") ==
        "/etc/openshell/auth/sandbox.jwt");
  f.in.token_file = "";
  SupervisorSpec spec = f.Build();
  CHECK(!FindMount(spec, "/etc/openshell/auth/sandbox.jwt"));
  CHECK(!Get(spec.process.env, "OPENSHELL_SANDBOX_TOKEN_FILE"));
}

TEST_CASE("supervisor: TLS mounts and env only with the trio", "[supervisor]") {
  SupFixture f;
  SECTION("without TLS") {
    SupervisorSpec spec = f.Build();
    CHECK(!FindMount(spec, "/etc/openshell/tls/client/ca.crt"));
    CHECK(!Get(spec.process.env, "OPENSHELL_TLS_CA"));
    CHECK(!Get(spec.process.env, "OPENSHELL_TLS_CERT"));
    CHECK(!Get(spec.process.env, "OPENSHELL_TLS_KEY"));
  }
  SECTION("with the trio") {
    f.SetTls();
    SupervisorSpec spec = f.Build();
    REQUIRE(spec.mounts.size() == 5);
    for (auto [dest, src, var] :
         {std::tuple<const char*, const char*, const char*>{
              "/etc/openshell/tls/client/ca.crt", "/etc/osgv/ca.crt", "OPENSHELL_TLS_CA"},
          {"/etc/openshell/tls/client/tls.crt", "/etc/osgv/tls.crt", "OPENSHELL_TLS_CERT"},
          {"/etc/openshell/tls/client/tls.key", "/etc/osgv/tls.key", "OPENSHELL_TLS_KEY"}}) {
      INFO(dest);
      const BindMount* m = FindMount(spec, dest);
      REQUIRE(m);
      CHECK(m->source == src);
      CHECK(m->read_only);
      CHECK(Get(spec.process.env, var) == dest);
    }
    CHECK(Get(spec.process.env, "OPENSHELL_ENDPOINT") == "https://gw.example:8443");
  }
  SECTION("a partial trio is a configuration error") {
    f.config.gateway.tls_ca = "/etc/osgv/ca.crt";
    absl::Status st = f.Error();
    CHECK(st.code() == absl::StatusCode::kFailedPrecondition);
    CHECK_THAT(std::string(st.message()), Catch::StartsWith("gateway.tls_ca: "));
  }
}

TEST_CASE("supervisor: configuration it cannot start with", "[supervisor]") {
  SupFixture f;
  SECTION("no binary") {
    f.config.supervisor.binary = "";
    CHECK_THAT(std::string(f.Error().message()), Catch::StartsWith("supervisor.binary: "));
  }
  SECTION("no endpoint") {
    f.config.gateway.endpoint = "";
    CHECK_THAT(std::string(f.Error().message()), Catch::StartsWith("gateway.endpoint: "));
  }
  SECTION("a workdir over a reserved path") {
    for (const char* dir : {"/", "/etc", "/opt/openshell/work", "sandbox"}) {
      INFO(dir);
      f.config.supervisor.workdir = dir;
      absl::Status st = f.Error();
      CHECK(st.code() == absl::StatusCode::kFailedPrecondition);
      CHECK_THAT(std::string(st.message()), Catch::StartsWith("supervisor.workdir: "));
    }
  }
  SECTION("nothing to run") {
    f.req.spec.command.clear();
    CHECK(f.Error().code() == absl::StatusCode::kFailedPrecondition);
  }
}

TEST_CASE("supervisor: the env is the supervisor-mode environment", "[supervisor]") {
  SupFixture f;
  f.in.telemetry_enabled = "false";
  SupervisorSpec spec = f.Build();
  SandboxEnvInputs env_in;
  env_in.config = &f.config;
  env_in.request = &f.req;
  env_in.image = &f.image;
  env_in.supervisor = true;
  env_in.token_file = true;
  env_in.telemetry_enabled = "false";
  auto env = BuildSandboxEnvironment(env_in);
  REQUIRE(env.ok());
  CHECK(spec.process.env == *env);
  for (const auto& kv : spec.process.env) CHECK(kv.find("eyJ.token.value") == std::string::npos);
}

// ---- host files -------------------------------------------------------------

TEST_CASE("supervisor: host files are checked", "[supervisor]") {
  TempDir dir;
  Config config;
  CHECK(CheckSupervisorHostFiles(config).ok());  // no supervisor: nothing to check
  config.supervisor.binary = dir.path() + "/openshell-sandbox";
  absl::Status st = CheckSupervisorHostFiles(config);
  CHECK(st.code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(st.message()), Catch::StartsWith("supervisor.binary: "));

  std::ofstream(config.supervisor.binary) << "#!/bin/sh\n";
  CHECK(CheckSupervisorHostFiles(config).ok());

  config.gateway.tls_key = dir.path();  // a directory
  st = CheckSupervisorHostFiles(config);
  CHECK(st.code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(st.message()), Catch::StartsWith("gateway.tls_key: "));
  CHECK_THAT(std::string(st.message()), Catch::Contains("not a regular file"));
}

}  // namespace
}  // namespace osgv
