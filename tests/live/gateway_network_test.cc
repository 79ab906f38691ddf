// Sandboxes on the driver's network, end to end through the real driver:
// what a `sandbox`-mode sandbox can and cannot reach, that a sandbox can opt
// out, that Stop/Start keeps memory and connectivity, that orphans are torn
// down at start-up, and a stand-in supervisor that records what it was
// given and holds a session to a stand-in gateway.
//
// The driver runs with the default bridge and subnet (osgv0, 10.89.0.0/16)
// and egress denied, so nothing leaves the machine. Run these tests on a
// host where no other driver uses those defaults.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "capabilities/config.h"
#include "lifecycle/network/sandbox_network.h"
#include "lifecycle/runsc/command_runner.h"
#include "lifecycle/runsc/runsc_id.h"
#include "live_support.h"
#include "tcp_listener.h"

using namespace osgv::live;
namespace fs = std::filesystem;

namespace {

constexpr char kBridgeIp[] = "10.89.0.1";
const uint16_t kGatewayPort = static_cast<uint16_t>(41000 + getpid() % 10000);

std::string Endpoint() {
  return absl::StrCat("http://host.openshell.internal:", kGatewayPort);
}

std::string NetworkYaml(const std::string& extra = "") {
  return absl::StrCat("gateway:\n  endpoint: ", Endpoint(), "\nnetwork:\n  egress: deny\n", extra);
}

osgv::Config NetworkConfig(const std::string& state_dir) {
  osgv::Config c;
  c.state_dir = state_dir;
  c.gateway.endpoint = Endpoint();
  c.network.egress = "deny";
  return c;
}

// Removes the bridge and our nft tables once the test's drivers are gone.
struct HostNetworkCleanup {
  ~HostNetworkCleanup() {
    osgv::ProcessRunner runner;
    auto options = osgv::HostNetworkOptionsFromConfig(NetworkConfig(MakeTempDir("cleanup")));
    if (options.ok()) osgv::HostNetwork(&runner, *options).RemoveHost().IgnoreError();
  }
};

// busybox nc from inside the sandbox; what came back ("" = nothing answered).
std::string SandboxProbe(const DriverProcess& driver, const std::string& sandbox,
                         const std::string& host, uint16_t port) {
  // nc's complaints (refused, timed out) are not an answer.
  return Exec(driver, sandbox,
              {"sh", "-c", absl::StrCat("nc -w 2 ", host, " ", port, " 2>/dev/null")}).out;
}

int ReadCounter(const DriverProcess& driver, const std::string& sandbox) {
  return std::atoi(Exec(driver, sandbox, {"cat", "/root/counter"}).out.c_str());
}

std::vector<std::string> Allocations(const std::string& state_dir) {
  std::vector<std::string> ids;
  std::error_code ec;
  for (const auto& f : fs::directory_iterator(state_dir + "/network", ec)) {
    if (f.path().extension() == ".ip") ids.push_back(f.path().stem().string());
  }
  return ids;
}

bool NetnsExists(const std::string& runsc_id) {
  return fs::exists("/run/netns/" + runsc_id);
}

const std::vector<std::string> kCounter = {
    "/bin/sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /root/counter.new; mv /root/counter.new /root/counter; sleep 0.1; done"};

}  // namespace

TEST_CASE("a networked sandbox reaches the gateway and no other host service - across stop and start",
          "[live][network]") {
  HostNetworkCleanup cleanup;
  Driver d("", NetworkYaml());
  // The driver brought the bridge up during recovery; bind as soon as it is.
  TcpListener gateway(kBridgeIp, kGatewayPort, "hello-gateway\n", false, std::chrono::seconds(10));
  REQUIRE(gateway.ok());
  TcpListener loopback("127.0.0.1", static_cast<uint16_t>(kGatewayPort + 1), "hello-loopback\n");
  TcpListener other(kBridgeIp, static_cast<uint16_t>(kGatewayPort + 2), "hello-other\n");
  REQUIRE(loopback.ok());
  REQUIRE(other.ok());

  // The gateway is told to listen where the sandboxes call it back.
  grpc::ClientContext ctx;
  pb::GetGatewayListenerRequirementsResponse requirements;
  REQUIRE(d.stub->GetGatewayListenerRequirements(&ctx, {}, &requirements).ok());
  REQUIRE(requirements.requirements_size() == 1);
  CHECK(requirements.requirements(0).exact_bind_address() ==
        absl::StrCat(kBridgeIp, ":", kGatewayPort));

  auto a = NewSandbox("net-a", kCounter);
  auto b = NewSandbox("net-b", {"/bin/sh", "-c", "while true; do echo hello-b | nc -l -p 9000; done"});
  REQUIRE(Create(d.stub.get(), a).ok());
  REQUIRE(Create(d.stub.get(), b).ok());
  WaitReady(d.stub.get(), a.id());
  WaitReady(d.stub.get(), b.id());
  CHECK(Allocations(d.process.state_dir()).size() == 2);

  CHECK(Exec(d.process, "net-a", {"sh", "-c", "echo $OPENSHELL_ENDPOINT"}).out == Endpoint() + "\n");
  CHECK(Exec(d.process, "net-a", {"cat", "/etc/hosts"}).out.find(
            absl::StrCat(kBridgeIp, "\thost.openshell.internal")) != std::string::npos);
  // The sandbox's own name is on its address in the same file.
  std::string b_ip(absl::StripAsciiWhitespace(
      Exec(d.process, "net-b", {"sh", "-c", "grep -w net-b /etc/hosts | cut -f1"}).out));
  REQUIRE(b_ip.rfind("10.89.", 0) == 0);

  CHECK(SandboxProbe(d.process, "net-a", "host.openshell.internal", kGatewayPort) ==
        "hello-gateway\n");
  CHECK(HostProbe(b_ip, 9000) == "hello-b\n");  // the host may reach a sandbox
  CHECK(SandboxProbe(d.process, "net-a", kBridgeIp, static_cast<uint16_t>(kGatewayPort + 2)).empty());
  CHECK(SandboxProbe(d.process, "net-a", "127.0.0.1", static_cast<uint16_t>(kGatewayPort + 1)).empty());
  CHECK(SandboxProbe(d.process, "net-a", b_ip, 9000).empty());
  CHECK(SandboxProbe(d.process, "net-a", "169.254.169.254", 80).empty());
  CHECK(other.accepted() == 0);
  CHECK(loopback.accepted() == 0);
  CHECK(gateway.accepted() == 1);

  // Stop/Start: memory (the counter) and the network both come back.
  int before = ReadCounter(d.process, "net-a");
  auto st = Stop(d.stub.get(), a.id());
  INFO(st.error_message());
  REQUIRE(st.ok());
  REQUIRE(Start(d.stub.get(), a.id()).ok());
  auto restored = WaitReady(d.stub.get(), a.id());
  CHECK(ReadyCondition(restored)->message().find("restored") != std::string::npos);
  CHECK(ReadCounter(d.process, "net-a") >= before);
  CHECK(SandboxProbe(d.process, "net-a", "host.openshell.internal", kGatewayPort) ==
        "hello-gateway\n");
  CHECK(SandboxProbe(d.process, "net-a", b_ip, 9000).empty());

  auto ids = Allocations(d.process.state_dir());
  REQUIRE(Delete(d.stub.get(), a.id(), nullptr).ok());
  REQUIRE(Delete(d.stub.get(), b.id(), nullptr).ok());
  CHECK(Allocations(d.process.state_dir()).empty());
  for (const auto& rid : ids) CHECK_FALSE(NetnsExists(rid));
}

TEST_CASE("a sandbox whose driver_config says network_mode none has loopback only",
          "[live][network]") {
  HostNetworkCleanup cleanup;
  Driver d("", NetworkYaml());
  TcpListener gateway(kBridgeIp, kGatewayPort, "hello-gateway\n", false, std::chrono::seconds(10));
  REQUIRE(gateway.ok());
  auto s = NewSandbox("offline", {"sleep", "1000000"});
  (*s.mutable_spec()->mutable_template_()->mutable_driver_config()->mutable_fields())["network_mode"]
      .set_string_value("none");
  REQUIRE(Create(d.stub.get(), s).ok());
  WaitReady(d.stub.get(), s.id());
  CHECK(Allocations(d.process.state_dir()).empty());
  CHECK(SandboxProbe(d.process, "offline", kBridgeIp, kGatewayPort).empty());
  CHECK(Exec(d.process, "offline", {"cat", "/etc/hosts"}).out.find("host.openshell.internal") ==
        std::string::npos);
  // Only loopback inside.
  std::string links = Exec(d.process, "offline", {"cat", "/proc/net/dev"}).out;
  CHECK(links.find("eth0") == std::string::npos);
  CHECK(links.find("lo") != std::string::npos);
  CHECK(gateway.accepted() == 0);
  REQUIRE(Delete(d.stub.get(), s.id(), nullptr).ok());
}

TEST_CASE("the network of a sandbox without a record is torn down when the driver starts",
          "[live][network]") {
  HostNetworkCleanup cleanup;
  std::string state = MakeTempDir("state");
  { Driver first(state, NetworkYaml()); }  // creates the layout and the bridge
  osgv::ProcessRunner runner;
  auto options = osgv::HostNetworkOptionsFromConfig(NetworkConfig(state));
  REQUIRE(options.ok());
  osgv::HostNetwork net(&runner, *options);
  // An id of the form the driver makes: the start-up sweep leaves others alone.
  auto new_id = osgv::NewRunscId();
  REQUIRE(new_id.ok());
  const std::string orphan = *new_id;
  auto attached = net.Setup(orphan, "orphan");
  INFO(attached.status().message());
  REQUIRE(attached.ok());
  REQUIRE(NetnsExists(orphan));

  Driver second(state, NetworkYaml());
  CHECK_FALSE(NetnsExists(orphan));
  CHECK_FALSE(net.IsOurs(orphan));
  CHECK(second.process.Log().find("removing the network of " + orphan) != std::string::npos);
}

TEST_CASE("a stand-in supervisor gets its identity and token and keeps a gateway session across stop and start",
          "[live][network][supervisor]") {
  HostNetworkCleanup cleanup;
  std::string dir = MakeTempDir("supervisor");
  // Records what it was given, then holds a session to the gateway, dialling
  // again whenever it drops (as openshell-sandbox does after a restore).
  std::string supervisor = dir + "/openshell-sandbox";
  {
    std::ofstream f(supervisor);
    f << "#!/bin/sh\n"
         "{\n"
         "  echo \"argv: $*\"\n"
         "  echo \"uid: $(id -u)\"\n"
         "  echo \"cwd: $(pwd)\"\n"
         "  grep CapEff /proc/self/status\n"
         "  echo \"token-sha256: $(sha256sum < \"$OPENSHELL_SANDBOX_TOKEN_FILE\" | cut -d' ' -f1)\"\n"
         "} > /root/record\n"
         "env > /root/env\n"
         "hp=${OPENSHELL_ENDPOINT#http://}\n"
         "n=0\n"
         "while true; do\n"
         "  n=$((n+1))\n"
         "  (echo \"hello $OPENSHELL_SANDBOX_ID dial $n\"; while true; do sleep 0.5; echo tick; done)"
         " | nc \"${hp%:*}\" \"${hp##*:}\" > /dev/null\n"
         "  sleep 0.2\n"
         "done\n";
  }
  fs::permissions(supervisor, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                  fs::perms::others_read | fs::perms::others_exec);
  std::string debug_logs = dir + "/runsc-debug";
  fs::create_directories(debug_logs);
  Driver d("", NetworkYaml(absl::StrCat("supervisor:\n  binary: ", supervisor,
                                        "\nrunsc:\n  debug_log_dir: ", debug_logs, "\n")));
  TcpListener gateway(kBridgeIp, kGatewayPort, "", /*hold_open=*/true, std::chrono::seconds(10));
  REQUIRE(gateway.ok());

  std::mt19937_64 rng(std::random_device{}());
  const std::string token = absl::StrCat("tok.", absl::Hex(rng(), absl::kZeroPad16),
                                         absl::Hex(rng(), absl::kZeroPad16));
  auto s = NewSandbox("supervised", {"/bin/sh", "-c", "echo main"});
  s.mutable_spec()->set_sandbox_token(token);
  (*s.mutable_spec()->mutable_environment())["FROM_SPEC"] = "spec";
  REQUIRE(Create(d.stub.get(), s).ok());
  WaitReady(d.stub.get(), s.id());
  auto dialled = [&](int n) {
    return WaitForSandbox(d.stub.get(), s.id(), [&](const pb::DriverSandbox&) {
      return gateway.received().find(absl::StrCat("hello ", s.id(), " dial ", n)) != std::string::npos;
    }, std::chrono::seconds(20)).has_value();
  };
  bool first_dial = dialled(1);
  std::string record = Exec(d.process, "supervised", {"cat", "/root/record"}).out;
  std::string env = Exec(d.process, "supervised", {"cat", "/root/env"}).out;
  INFO(record << env << "gateway accepted " << gateway.accepted() << ", received: "
              << gateway.received());
  REQUIRE(first_dial);
  CHECK(record.find("argv: --workdir /sandbox\n") != std::string::npos);
  CHECK(record.find("uid: 0\n") != std::string::npos);
  CHECK(record.find("cwd: /\n") != std::string::npos);
  CHECK(record.find("token-sha256: ") != std::string::npos);
  // The file holds the token and a newline.
  auto expected_hash = RunCommand({"sha256sum"}, token + "\n").out.substr(0, 64);
  CHECK(record.find("token-sha256: " + expected_hash) != std::string::npos);
  // The supervisor's start-up capabilities (contract §6.5), and none that
  // reach the host kernel.
  auto cap_at = record.find("CapEff:");
  REQUIRE(cap_at != std::string::npos);
  uint64_t caps = std::stoull(record.substr(cap_at + 7, 20), nullptr, 16);
  for (int bit : {21, 12, 19, 34, 7, 6, 8, 0, 3, 2}) CHECK((caps >> bit & 1) == 1);
  for (int bit : {16, 17, 22, 25}) CHECK((caps >> bit & 1) == 0);  // module, rawio, boot, time
  for (const auto& line : {absl::StrCat("OPENSHELL_ENDPOINT=", Endpoint()),
                           absl::StrCat("OPENSHELL_SANDBOX_ID=", s.id()),
                           std::string("OPENSHELL_SANDBOX=supervised"),
                           std::string("OPENSHELL_SANDBOX_TOKEN_FILE=/etc/openshell/auth/sandbox.jwt"),
                           std::string("OPENSHELL_NETWORK_RUNTIME_CAPABILITIES="),
                           std::string("FROM_SPEC=spec")}) {
    CHECK(env.find(line + "\n") != std::string::npos);
  }
  CHECK(env.find("OPENSHELL_MAIN_PROCESS_SPEC=") != std::string::npos);
  CHECK(env.find("OPENSHELL_SANDBOX_TOKEN=") == std::string::npos);
  CHECK(env.find(token) == std::string::npos);

  // Stop with the session open, Start: the supervisor dials again.
  auto st = Stop(d.stub.get(), s.id());
  INFO(st.error_message());
  REQUIRE(st.ok());
  REQUIRE(Start(d.stub.get(), s.id()).ok());
  WaitReady(d.stub.get(), s.id());
  CHECK(dialled(2));

  // The token is on the host exactly once: its own 0600 root-owned file.
  // (Image layers are skipped: they are the image's, written before the
  // sandbox existed.)
  std::vector<std::string> holders;
  auto scan = [&](const fs::path& root) {
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) break;
      if (it->path().filename() == "images") {
        it.disable_recursion_pending();
        continue;
      }
      if (!it->is_regular_file(ec) || it->file_size(ec) > (64u << 20)) continue;
      std::ifstream f(it->path(), std::ios::binary);
      std::string text((std::istreambuf_iterator<char>(f)), {});
      if (text.find(token) != std::string::npos) holders.push_back(it->path().string());
    }
  };
  scan(d.process.state_dir());
  scan(debug_logs);
  REQUIRE(holders.size() == 1);
  struct stat sb {};
  REQUIRE(stat(holders[0].c_str(), &sb) == 0);
  CHECK((sb.st_mode & 07777) == 0600);
  CHECK(sb.st_uid == 0);
  CHECK(d.process.Log().find(token) == std::string::npos);
  for (const auto& p : fs::directory_iterator("/proc")) {
    for (const char* file : {"/environ", "/cmdline"}) {
      std::ifstream f(p.path().string() + file, std::ios::binary);
      std::string text((std::istreambuf_iterator<char>(f)), {});
      CHECK(text.find(token) == std::string::npos);
    }
  }

  REQUIRE(Delete(d.stub.get(), s.id(), nullptr).ok());
  CHECK_FALSE(fs::exists(holders[0]));
}

TEST_CASE("a supervisor that dies at start-up shows ProcessExited with its last words",
          "[live][supervisor]") {
  std::string dir = MakeTempDir("supervisor");
  std::string supervisor = dir + "/openshell-sandbox";
  std::ofstream(supervisor) << "#!/bin/sh\necho 'fatal: cannot load policy: no such file' >&2\nexit 3\n";
  fs::permissions(supervisor, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                  fs::perms::others_read | fs::perms::others_exec);
  Driver d("", absl::StrCat("gateway:\n  endpoint: ", Endpoint(), "\nnetwork:\n  mode: none\n",
                            "supervisor:\n  binary: ", supervisor, "\n"));
  auto s = NewSandbox("doomed");
  REQUIRE(Create(d.stub.get(), s).ok());
  auto exited = WaitForReadyReason(d.stub.get(), s.id(), "ProcessExited");
  REQUIRE(exited.has_value());
  auto message = ReadyCondition(*exited)->message();
  INFO(message);
  CHECK(message.find("code 3") != std::string::npos);
  CHECK(message.find("fatal: cannot load policy: no such file") != std::string::npos);
  REQUIRE(Delete(d.stub.get(), s.id(), nullptr).ok());
}
