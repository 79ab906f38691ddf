// A v0.1.x/Ryno sandbox (docs/supervisor.md "v0.1.x and Ryno gateways",
// docs/network.md "Policy fence") on real runsc, ip and nft: it reaches the
// one endpoint its policy allows and nothing else on the host, not even the
// gateway port; no token is in it; Stop/Start keeps its memory and its fence.
//
// The gRPC side of the mode (which call makes a sandbox kV01) is the driver
// layer's; here the lifecycle is driven directly through the same runtime
// `serve` builds (OpenDriverRuntime), with the monitor launched from the
// driver binary. Uses the default bridge and subnet (osgv0, 10.89.0.0/16)
// with egress denied, like gateway_network_test.cc: run it on a host where no
// other driver uses them.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "cli/driver_runtime.h"
#include "lifecycle/bundle/token_file.h"
#include "lifecycle/sandbox_status.h"
#include "live_support.h"
#include "tcp_listener.h"

using namespace osgv::live;

namespace {

constexpr char kBridgeIp[] = "10.89.0.1";

// The runtime `serve` builds, but whose monitors are `<driver binary>
// monitor`, not this test binary.
std::unique_ptr<osgv::DriverRuntime> OpenRuntime(const osgv::Config& config, std::string* why) {
  auto rt = osgv::OpenDriverRuntime(config);
  if (!rt.ok()) {
    *why = std::string(rt.status().message());
    return nullptr;
  }
  auto& r = **rt;
  r.manager.reset();
  r.launcher = std::make_unique<osgv::ProcessMonitorLauncher>(OSGV_DRIVER_BINARY,
                                                              config.runsc.timeout);
  osgv::ManagerDeps deps{config,          r.layout,      r.store.get(),      r.runsc.get(),
                         r.images.get(),  &r.mounter,    r.launcher.get(),   &r.exits,
                         r.events.get()};
  deps.network = r.network.get();
  r.manager = std::make_unique<osgv::SandboxManager>(deps);
  return *std::move(rt);
}

bool WaitRunning(osgv::SandboxManager& manager, const std::string& id) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    auto s = manager.Get(id, "");
    if (s.ok() && s->phase == osgv::phase::kRunning) return true;
    if (s.ok() && s->phase == osgv::phase::kFailed) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

std::string InSandbox(const std::string& state_dir, const std::string& sandbox,
                      const std::string& script) {
  return RunCommand({OSGV_DRIVER_BINARY, "exec", "--state-dir", state_dir, "--no-tty", sandbox,
                     "--", "sh", "-c", script})
      .out;
}

// busybox nc from inside the sandbox; "" when nothing answered.
std::string Probe(const std::string& state_dir, const std::string& sandbox, uint16_t port) {
  return InSandbox(state_dir, sandbox, absl::StrCat("nc -w 2 ", kBridgeIp, " ", port, " 2>/dev/null"));
}

}  // namespace

TEST_CASE("a v0.1.x sandbox reaches only its policy endpoint, holds no token, and keeps memory "
          "and fence across stop and start",
          "[live][network][generation]") {
  const uint16_t gateway_port = static_cast<uint16_t>(45000 + getpid() % 5000);
  const uint16_t allowed_port = static_cast<uint16_t>(gateway_port + 1);
  const uint16_t other_port = static_cast<uint16_t>(gateway_port + 2);
  osgv::Config config;
  config.state_dir = MakeTempDir("v01-state");
  config.images.oci_roots = {"/tmp"};
  config.gateway.endpoint = absl::StrCat("http://host.openshell.internal:", gateway_port);
  config.network.mode = osgv::NetworkMode::kSandbox;
  config.network.egress = "deny";
  std::string why;
  auto rt = OpenRuntime(config, &why);
  if (!rt) {
    WARN("skipped: this host cannot run networked sandboxes: " << why);
    return;
  }
  struct RemoveHostAtEnd {
    osgv::HostNetwork* network;
    ~RemoveHostAtEnd() { network->RemoveHost().IgnoreError(); }
  } remove_host{rt->network.get()};
  osgv::SandboxManager& manager = *rt->manager;
  REQUIRE(manager.Recover().ok());

  TcpListener gateway(kBridgeIp, gateway_port, "hello-gateway\n");
  TcpListener allowed(kBridgeIp, allowed_port, "hello-allowed\n");
  TcpListener other(kBridgeIp, other_port, "hello-other\n");
  REQUIRE(gateway.ok());
  REQUIRE(allowed.ok());
  REQUIRE(other.ok());

  osgv::SandboxRequest request;
  request.id = absl::StrCat("v01-", getpid());
  request.name = "v01-fenced";
  request.spec.tmpl.image = BusyboxImage();
  request.spec.command = {"/bin/sh", "-c",
                          "i=0; while true; do i=$((i+1)); echo $i > /root/counter.new; "
                          "mv /root/counter.new /root/counter; sleep 0.1; done"};
  request.spec.sandbox_token = "tok-must-not-reach-the-sandbox";
  request.spec.generation = osgv::GatewayGeneration::kV01;
  request.spec.policy.present = true;
  request.spec.policy.endpoints = {{"", {allowed_port}, {kBridgeIp}}};
  auto watch = manager.Watch();
  REQUIRE(manager.Create(request).ok());
  // The bridge address is reachable with egress denied: nothing to warn of.
  for (osgv::WatchEvent event; watch.subscription->TryPop(&event);) {
    CHECK(event.event.reason != "PolicyNotEnforced");
  }
  REQUIRE(WaitRunning(manager, request.id));
  const std::string state = config.state_dir;
  const std::string name = request.name;

  // No token anywhere: not on the host, not in the sandbox, not in its env.
  auto record = manager.Find(request.id);
  REQUIRE(record.ok());
  CHECK_FALSE(osgv::HasTokenFile(rt->layout.sandbox_dir(record->runsc_id)));
  CHECK(InSandbox(state, name, "test -e /etc/openshell/auth/sandbox.jwt && echo yes || echo no") ==
        "no\n");
  CHECK(InSandbox(state, name, "env | grep -c -e OPENSHELL_SANDBOX_TOKEN -e tok-must-not").find("0") ==
        0);
  CHECK(InSandbox(state, name, "cat /etc/resolv.conf").find("\nnameserver") == std::string::npos);

  // The one endpoint, and nothing else: not another port on the same
  // address, not the gateway port other sandboxes get.
  CHECK(Probe(state, name, allowed_port) == "hello-allowed\n");
  CHECK(Probe(state, name, other_port).empty());
  CHECK(Probe(state, name, gateway_port).empty());
  CHECK(allowed.accepted() == 1);
  CHECK(other.accepted() == 0);
  CHECK(gateway.accepted() == 0);

  // Stop/Start: memory and fence both come back.
  const int before = std::atoi(InSandbox(state, name, "cat /root/counter").c_str());
  REQUIRE(before > 0);
  auto stopped = manager.Stop(request.id, "");
  INFO(stopped.ToString());
  REQUIRE(stopped.ok());
  REQUIRE(manager.Start(request.id, "").ok());
  REQUIRE(WaitRunning(manager, request.id));
  auto restored = manager.Get(request.id, "");
  REQUIRE(restored.ok());
  bool restored_message = false;
  for (const auto& c : restored->status.conditions) {
    if (c.type == "Ready") restored_message = c.message.find("restored") != std::string::npos;
  }
  CHECK(restored_message);
  CHECK(std::atoi(InSandbox(state, name, "cat /root/counter").c_str()) >= before);
  CHECK(Probe(state, name, allowed_port) == "hello-allowed\n");
  CHECK(Probe(state, name, other_port).empty());
  CHECK(Probe(state, name, gateway_port).empty());
  CHECK(other.accepted() == 0);
  CHECK(gateway.accepted() == 0);

  auto deleted = manager.Delete(request.id, "");
  REQUIRE(deleted.ok());
  CHECK(*deleted);
}
