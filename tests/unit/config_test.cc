#include "capabilities/config.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <string>

namespace osgv {
namespace {

using std::chrono::milliseconds;

std::string Message(const absl::Status& status) {
  return std::string(status.message());
}

// Parses text that must be rejected; returns the error.
absl::Status ParseError(const std::string& yaml) {
  absl::StatusOr<Config> config = ParseConfig(yaml);
  REQUIRE_FALSE(config.ok());
  return config.status();
}

Config MustParse(const std::string& yaml) {
  absl::StatusOr<Config> config = ParseConfig(yaml);
  INFO(config.status().ToString());
  REQUIRE(config.ok());
  return *config;
}

constexpr const char* kFullConfig = R"(
socket:
  path: /run/openshell/gvisor.sock
  mode: 0660
  group: openshell
  allowed_uids: [1000, 0, 4294967294]
state_dir: /srv/gvisor
driver_name: my_gvisor-2
default_image: ghcr.io/nvidia/openshell/sandbox:latest
log:
  level: debug
  format: json
runsc:
  path: /usr/local/bin/runsc
  platform: kvm
  timeout: 90s
  debug_log_dir: /var/log/runsc
sandbox:
  memory_limit: 512Mi
  cpu_limit: 500m
  pids_limit: 8192
  console_log_max: 1Mi
images:
  oci_roots: [/srv/images, /opt/layouts]
watch:
  queue_size: 128
)";

TEST_CASE("an empty config file means every default", "[config]") {
  for (const char* text : {"", "\n", "# only a comment\n", "---\n"}) {
    CAPTURE(text);
    Config config = MustParse(text);
    CHECK(config.socket.path.empty());
    CHECK(config.socket.mode == 0600);
    CHECK(config.socket.allowed_uids.empty());
    CHECK(config.state_dir == "/var/lib/openshell-driver-gvisor");
    CHECK(config.driver_name == "gvisor");
    CHECK(config.log.level == "info");
    CHECK(config.log.format == "text");
    CHECK(config.runsc.path == "runsc");
    CHECK(config.runsc.platform == "systrap");
    CHECK(config.runsc.timeout == milliseconds(60000));
    CHECK(config.sandbox.memory_limit_bytes == 0);
    CHECK(config.sandbox.cpu_limit_millis == 0);
    CHECK(config.sandbox.pids_limit == 2048);
    CHECK(config.sandbox.console_log_max_bytes == 16ULL << 20);
    CHECK(config.watch.queue_size == 4096);
    CHECK(config.images.oci_roots.empty());
    CHECK(config.checkpoint.io == "buffered");
  }
}

TEST_CASE("every key is parsed", "[config]") {
  Config config = MustParse(kFullConfig);
  CHECK(config.socket.path == "/run/openshell/gvisor.sock");
  CHECK(config.socket.mode == 0660);
  CHECK(config.socket.group == "openshell");
  CHECK(config.socket.allowed_uids ==
        std::vector<uint32_t>{1000, 0, 4294967294u});
  CHECK(config.state_dir == "/srv/gvisor");
  CHECK(config.driver_name == "my_gvisor-2");
  CHECK(config.default_image == "ghcr.io/nvidia/openshell/sandbox:latest");
  CHECK(config.log.level == "debug");
  CHECK(config.log.format == "json");
  CHECK(config.runsc.path == "/usr/local/bin/runsc");
  CHECK(config.runsc.platform == "kvm");
  CHECK(config.runsc.timeout == milliseconds(90000));
  CHECK(config.runsc.debug_log_dir == "/var/log/runsc");
  CHECK(config.sandbox.memory_limit_bytes == 512ULL << 20);
  CHECK(config.sandbox.cpu_limit_millis == 500);
  CHECK(config.sandbox.pids_limit == 8192);
  CHECK(config.sandbox.console_log_max_bytes == 1ULL << 20);
  CHECK(config.watch.queue_size == 128);
  CHECK(config.images.oci_roots == std::vector<std::string>{"/srv/images", "/opt/layouts"});
  CHECK(ValidateConfig(config).ok());
}

TEST_CASE("a key with no value keeps its default", "[config]") {
  Config config = MustParse("socket:\nstate_dir:\nlog:\n  level:\n");
  CHECK(config.state_dir == "/var/lib/openshell-driver-gvisor");
  CHECK(config.log.level == "info");
}

TEST_CASE("socket.mode is read as octal", "[config]") {
  struct Case {
    std::string text;
    uint32_t mode;
  };
  const Case good[] = {{"0600", 0600}, {"0660", 0660}, {"'0660'", 0660},
                       {"660", 0660},  {"0o640", 0640}, {"0644", 0644},
                       {"0664", 0664}, {"0666", 0666}};
  for (const Case& c : good) {
    CAPTURE(c.text);
    CHECK(MustParse("socket: {mode: " + c.text + "}").socket.mode == c.mode);
  }

  struct Bad {
    std::string text;
    std::string message_part;
  };
  const Bad bad[] = {
      {"0466", "socket.mode: must keep owner read/write (0600)"},
      {"0777", "(got 0777)"},
      {"0700", "(got 0700)"},
      {"0400", "(got 0400)"},
      {"0060", "(got 0060)"},
      {"4660", "(got 4660)"},
      {"rw", "socket.mode: not an octal mode: 'rw'"},
      {"0999", "socket.mode: not an octal mode"},
      {"012345", "socket.mode: not an octal mode"},
      {"[0660]", "socket.mode: must be a single value"},
  };
  for (const Bad& c : bad) {
    CAPTURE(c.text);
    absl::Status status = ParseError("socket: {mode: " + c.text + "}");
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(Message(status), Catch::Contains(c.message_part));
  }
}

TEST_CASE("unknown keys are rejected at any level", "[config]") {
  struct Case {
    std::string yaml;
    std::string message;
  };
  const Case cases[] = {
      {"bogus: 1", "config: unknown key 'bogus'"},
      {"runsc:\n  bogus: 1", "config: unknown key 'runsc.bogus'"},
      {"socket: {path: /x, Path: /y}", "config: unknown key 'socket.Path'"},
      {"sandbox: {memory: 1Gi}", "config: unknown key 'sandbox.memory'"},
      {"log: {level: info, colour: true}", "config: unknown key 'log.colour'"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.yaml);
    absl::Status status = ParseError(c.yaml);
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(Message(status) == c.message);
  }
}

TEST_CASE("bad values name their key", "[config]") {
  struct Case {
    std::string yaml;
    std::string message_start;
  };
  const Case cases[] = {
      {"runsc: {timeout: 5 parsecs}",
       "runsc.timeout: not a duration: '5 parsecs' (use e.g. 250ms, 60s, 5m)"},
      {"runsc: {timeout: 60}", "runsc.timeout: not a duration: '60'"},
      {"runsc: {timeout: 0s}", "runsc.timeout: duration must be greater"},
      {"runsc: {platform: hyper}",
       "runsc.platform: must be one of systrap, ptrace, kvm (got 'hyper')"},
      {"runsc: {path: ''}", "runsc.path: must not be empty"},
      {"checkpoint: {io: odirect}",
       "checkpoint.io: must be one of buffered, direct (got 'odirect')"},
      {"runsc: {debug_log_dir: logs}",
       "runsc.debug_log_dir: must be an absolute path (got 'logs')"},
      {"runsc: 5", "runsc: must be a mapping of keys"},
      {"log: {level: loud}",
       "log.level: must be one of trace, debug, info, warn, error, critical, "
       "off (got 'loud')"},
      {"log: {format: xml}", "log.format: must be one of text, json"},
      {"driver_name: ''", "driver_name: must be non-empty"},
      {"driver_name: g visor", "driver_name: must be non-empty ASCII"},
      {"driver_name: gvisor.io", "driver_name:"},
      {"state_dir: var/lib", "state_dir: must be an absolute path"},
      {"state_dir: [a]", "state_dir: must be a single value"},
      {"socket: {path: run/x.sock}", "socket.path: must be an absolute path"},
      {"socket: {allowed_uids: 1000}",
       "socket.allowed_uids: must be a list of uids"},
      {"socket: {allowed_uids: [1000, -1]}",
       "socket.allowed_uids[1]: not an integer between 0 and 4294967294: "
       "'-1'"},
      {"socket: {allowed_uids: [4294967295]}", "socket.allowed_uids[0]:"},
      {"socket: {allowed_uids: [alice]}", "socket.allowed_uids[0]:"},
      {"sandbox: {memory_limit: 512MB}",
       "sandbox.memory_limit: not a quantity: '512MB'"},
      {"sandbox: {memory_limit: -1Gi}",
       "sandbox.memory_limit: quantity '-1Gi' must be greater than zero"},
      {"sandbox: {cpu_limit: 2 cores}",
       "sandbox.cpu_limit: not a quantity: '2 cores'"},
      {"sandbox: {pids_limit: 64}",
       "sandbox.pids_limit: must be 0 (no limit) or between 256 and 1048576"},
      {"sandbox: {pids_limit: 2000000}", "sandbox.pids_limit: must be 0"},
      {"sandbox: {pids_limit: 0x100}",
       "sandbox.pids_limit: not an integer between 0 and"},
      {"sandbox: {pids_limit: -5}", "sandbox.pids_limit: not an integer"},
      {"watch: {queue_size: 8}",
       "watch.queue_size: must be between 16 and 1000000 (got 8)"},
      {"watch: {queue_size: 1000001}", "watch.queue_size: must be between"},
      {"watch: {queue_size: 1e3}", "watch.queue_size: not an integer"},
      {"watch: {queue_size: 99999999999999999999999}",
       "watch.queue_size: not an integer"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.yaml);
    absl::Status status = ParseError(c.yaml);
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(Message(status), Catch::StartsWith(c.message_start));
  }
}

TEST_CASE("metrics: off by default, loopback only unless allowed", "[config][metrics]") {
  Config defaults = MustParse("");
  CHECK(defaults.metrics.listen.empty());
  CHECK_FALSE(defaults.metrics.allow_non_loopback);

  for (const char* listen : {"127.0.0.1:9464", "127.8.9.10:1", "[::1]:65535"}) {
    CAPTURE(listen);
    Config config = MustParse(std::string("metrics: {listen: \"") + listen + "\"}");
    CHECK(config.metrics.listen == listen);
    CHECK(ValidateConfig([&] { config.socket.path = "/run/x.sock"; return config; }()).ok());
  }
  // Beyond this host only when asked for.
  for (const char* listen : {"0.0.0.0:9464", "10.1.2.3:9464", "[::]:9464", "[2001:db8::1]:80"}) {
    CAPTURE(listen);
    absl::Status refused = ParseError(std::string("metrics: {listen: \"") + listen + "\"}");
    CHECK(refused.code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(Message(refused), Catch::StartsWith("metrics.listen: not a loopback address"));
    CHECK_THAT(Message(refused), Catch::Contains("metrics.allow_non_loopback: true"));
    Config allowed = MustParse(std::string("metrics: {listen: \"") + listen +
                               "\", allow_non_loopback: true}");
    CHECK(allowed.metrics.allow_non_loopback);
  }
  // The flag alone changes nothing: still off.
  CHECK(MustParse("metrics: {allow_non_loopback: true}").metrics.listen.empty());

  for (const char* bad : {"localhost:9464", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536",
                          "127.0.0.1:+80", ":9464", "::1:9464", "[127.0.0.1]:9464",
                          "127.0.0.1:9464/metrics"}) {
    CAPTURE(bad);
    absl::Status status = ParseError(std::string("metrics: {listen: \"") + bad + "\"}");
    CHECK_THAT(Message(status), Catch::StartsWith("metrics.listen: must be IPv4:PORT or [IPv6]:PORT"));
  }
  CHECK_THAT(Message(ParseError("metrics: {allow_non_loopback: yes}")),
             Catch::StartsWith("metrics.allow_non_loopback: must be true or false (got 'yes')"));

  Config config = MustParse("metrics: {listen: \"0.0.0.0:9464\", allow_non_loopback: true}");
  std::string rendered = RenderConfig(config);
  CAPTURE(rendered);
  CHECK_THAT(rendered, Catch::Contains("metrics:\n  listen: \"0.0.0.0:9464\"\n  allow_non_loopback: true"));
  Config back = MustParse(rendered);
  CHECK(back.metrics.listen == "0.0.0.0:9464");
  CHECK(back.metrics.allow_non_loopback);
}

TEST_CASE("ParseListenAddress splits and classifies", "[config][metrics]") {
  auto v4 = ParseListenAddress("k", "127.0.0.1:9464");
  REQUIRE(v4.ok());
  CHECK(v4->host == "127.0.0.1");
  CHECK(v4->port == 9464);
  CHECK(v4->loopback);
  auto v6 = ParseListenAddress("k", "[::1]:80");
  REQUIRE(v6.ok());
  CHECK(v6->host == "::1");
  CHECK(v6->port == 80);
  CHECK(v6->loopback);
  auto any = ParseListenAddress("k", "0.0.0.0:1");
  REQUIRE(any.ok());
  CHECK_FALSE(any->loopback);
}

TEST_CASE("quantity defaults: zero means no limit", "[config]") {
  Config config = MustParse("sandbox: {memory_limit: '0', cpu_limit: 0m}");
  CHECK(config.sandbox.memory_limit_bytes == 0);
  CHECK(config.sandbox.cpu_limit_millis == 0);

  config = MustParse("sandbox: {memory_limit: 1.5, cpu_limit: 0.25}");
  CHECK(config.sandbox.memory_limit_bytes == 2);
  CHECK(config.sandbox.cpu_limit_millis == 250);

  CHECK(MustParse("sandbox: {pids_limit: 0}").sandbox.pids_limit == 0);
}

TEST_CASE("malformed YAML and odd shapes are rejected", "[config]") {
  struct Case {
    std::string yaml;
    std::string message_part;
  };
  const Case cases[] = {
      {"socket: {path: /x", "config: not valid YAML"},
      {"- a\n- b\n", "config: the top level must be a mapping"},
      {"just text", "config: the top level must be a mapping"},
      {"state_dir: /a\nstate_dir: /b\n", "config: duplicate key 'state_dir'"},
      {"? [a, b]\n: 1\n", "config: keys must be plain names"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.yaml);
    absl::Status status = ParseError(c.yaml);
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(Message(status), Catch::Contains(c.message_part));
  }
}

TEST_CASE("ParseDuration", "[config]") {
  struct Good {
    std::string text;
    milliseconds value;
  };
  const Good good[] = {{"250ms", milliseconds(250)},
                       {"1ms", milliseconds(1)},
                       {"60s", milliseconds(60000)},
                       {"5m", milliseconds(300000)},
                       {"1h", milliseconds(3600000)},
                       {"90s", milliseconds(90000)}};
  for (const Good& c : good) {
    CAPTURE(c.text);
    absl::StatusOr<milliseconds> duration = ParseDuration(c.text);
    REQUIRE(duration.ok());
    CHECK(*duration == c.value);
  }

  struct Bad {
    std::string text;
    std::string message_part;
  };
  const Bad bad[] = {
      {"", "not a duration: ''"},
      {"60", "not a duration: '60'"},
      {"s", "not a duration: 's'"},
      {"1.5s", "not a duration"},
      {"-1s", "not a duration"},
      {"1 s", "not a duration"},
      {"1d", "not a duration"},
      {"1h30m", "not a duration"},
      {"5 parsecs", "not a duration: '5 parsecs' (use e.g. 250ms, 60s, 5m)"},
      {"0ms", "must be greater than zero (got '0ms')"},
      {"0h", "must be greater than zero"},
      {"9999999999999999h", "is too large"},
      {"99999999999999999999999ms", "is too large"},
  };
  for (const Bad& c : bad) {
    CAPTURE(c.text);
    absl::StatusOr<milliseconds> duration = ParseDuration(c.text);
    REQUIRE_FALSE(duration.ok());
    CHECK(duration.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(Message(duration.status()), Catch::Contains(c.message_part));
  }
}

TEST_CASE("ValidateConfig checks the effective config", "[config]") {
  Config config;
  absl::Status status = ValidateConfig(config);
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  CHECK(Message(status) == "socket.path: required (use --socket or socket.path)");

  config.socket.path = "/run/gvisor.sock";
  CHECK(ValidateConfig(config).ok());

  struct Case {
    void (*change)(Config&);
    std::string message_start;
  };
  const Case cases[] = {
      {[](Config& c) { c.socket.path = "gvisor.sock"; },
       "socket.path: must be an absolute path (got 'gvisor.sock')"},
      {[](Config& c) { c.socket.path = std::string("/a\0b", 4); },
       "socket.path: must be an absolute path (got '/a\\000b')"},
      {[](Config& c) { c.state_dir = ""; }, "state_dir: must be an absolute"},
      {[](Config& c) { c.state_dir = "relative"; }, "state_dir:"},
      {[](Config& c) { c.driver_name = "gVisor!"; }, "driver_name:"},
      {[](Config& c) { c.log.level = "verbose"; },
       "log.level: must be one of"},
      {[](Config& c) { c.log.format = "yaml"; }, "log.format:"},
      {[](Config& c) { c.runsc.platform = ""; }, "runsc.platform:"},
      {[](Config& c) { c.runsc.timeout = milliseconds(0); },
       "runsc.timeout: must be greater than zero"},
      {[](Config& c) { c.socket.mode = 0706; }, "socket.mode:"},
      {[](Config& c) { c.watch.queue_size = 0; }, "watch.queue_size:"},
      {[](Config& c) { c.sandbox.pids_limit = 10; }, "sandbox.pids_limit:"},
      {[](Config& c) { c.supervisor.binary = "/usr/libexec/openshell-sandbox"; },
       "gateway.endpoint: required when supervisor.binary is set"},
      {[](Config& c) { c.images.oci_roots = {"/srv/images", "images"}; },
       "images.oci_roots[1]: must be an absolute path (got 'images')"},
      {[](Config& c) { c.images.oci_roots = {"/var/lib/openshell-driver-gvisor/sandboxes"}; },
       "images.oci_roots[0]: must not be inside state_dir or checkpoint_dir"},
      {[](Config& c) { c.checkpoint_dir = "/ckpt"; c.images.oci_roots = {"/ckpt"}; },
       "images.oci_roots[0]: must not be inside state_dir or checkpoint_dir"},
      {[](Config& c) { c.default_image = "oci:/var/lib/openshell-driver-gvisor/x:v1"; },
       "default_image: an oci: layout must not be inside state_dir"},
  };
  for (const Case& c : cases) {
    Config changed = config;
    c.change(changed);
    absl::Status bad = ValidateConfig(changed);
    CAPTURE(c.message_start);
    CHECK(bad.code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(Message(bad), Catch::StartsWith(c.message_start));
  }
}

TEST_CASE("RenderConfig round-trips through ParseConfig", "[config]") {
  SECTION("defaults") {
    Config defaults;
    std::string rendered = RenderConfig(defaults);
    CAPTURE(rendered);
    Config back = MustParse(rendered);
    CHECK(RenderConfig(back) == rendered);
    CHECK(back.runsc.timeout == defaults.runsc.timeout);
    CHECK(back.socket.mode == 0600);
  }
  SECTION("every key set") {
    Config config = MustParse(kFullConfig);
    std::string rendered = RenderConfig(config);
    CAPTURE(rendered);
    CHECK_THAT(rendered, Catch::Contains("mode: \"0660\""));
    CHECK_THAT(rendered, Catch::Contains("memory_limit: \"512Mi\""));
    CHECK_THAT(rendered, Catch::Contains("cpu_limit: \"500m\""));
    CHECK_THAT(rendered, Catch::Contains("timeout: \"90s\""));
    Config back = MustParse(rendered);
    CHECK(RenderConfig(back) == rendered);
    CHECK(back.socket.allowed_uids == config.socket.allowed_uids);
    CHECK(back.sandbox.memory_limit_bytes == config.sandbox.memory_limit_bytes);
    CHECK(back.sandbox.cpu_limit_millis == config.sandbox.cpu_limit_millis);
    CHECK(back.runsc.timeout == config.runsc.timeout);
    CHECK(back.images.oci_roots == config.images.oci_roots);
    CHECK_THAT(rendered, Catch::Contains("oci_roots: [\"/srv/images\", \"/opt/layouts\"]"));
  }
  SECTION("values YAML would otherwise reinterpret") {
    Config config;
    config.socket.group = "null";
    config.default_image = "~";
    config.runsc.path = "yes";
    config.sandbox.memory_limit_bytes = 1000000001;  // no binary suffix fits
    config.sandbox.cpu_limit_millis = 2000;
    config.runsc.timeout = milliseconds(1500);
    std::string rendered = RenderConfig(config);
    CAPTURE(rendered);
    Config back = MustParse(rendered);
    CHECK(back.socket.group == "null");
    CHECK(back.default_image == "~");
    CHECK(back.runsc.path == "yes");
    CHECK(back.sandbox.memory_limit_bytes == 1000000001);
    CHECK(back.sandbox.cpu_limit_millis == 2000);
    CHECK(back.runsc.timeout == milliseconds(1500));
  }
}

// A file in a fresh temporary directory, removed with it.
class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/osgv-config-test-XXXXXX";
    REQUIRE(mkdtemp(pattern) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::remove((path_ + "/config.yaml").c_str());
    rmdir(path_.c_str());
  }
  std::string Write(const std::string& text) {
    std::string file = path_ + "/config.yaml";
    std::ofstream(file) << text;
    return file;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST_CASE("LoadConfigFile", "[config]") {
  TempDir dir;
  SECTION("reads a file") {
    absl::StatusOr<Config> config = LoadConfigFile(dir.Write(kFullConfig));
    REQUIRE(config.ok());
    CHECK(config->runsc.platform == "kvm");
  }
  SECTION("a missing file names the path") {
    std::string missing = dir.path() + "/nope.yaml";
    absl::StatusOr<Config> config = LoadConfigFile(missing);
    REQUIRE_FALSE(config.ok());
    CHECK(config.status().code() == absl::StatusCode::kNotFound);
    CHECK_THAT(Message(config.status()), Catch::Contains(missing));
  }
  SECTION("a directory is not a config file") {
    absl::StatusOr<Config> config = LoadConfigFile(dir.path());
    REQUIRE_FALSE(config.ok());
    CHECK_THAT(Message(config.status()), Catch::Contains(dir.path()));
  }
  SECTION("a parse error names the path and the key") {
    std::string file = dir.Write("runsc:\n  bogus: 1\n");
    absl::StatusOr<Config> config = LoadConfigFile(file);
    REQUIRE_FALSE(config.ok());
    CHECK(config.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(Message(config.status()) ==
          "config file '" + file + "': config: unknown key 'runsc.bogus'");
  }
}

}  // namespace
}  // namespace osgv
