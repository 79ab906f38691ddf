// The host-side sandbox network against real ip, nft and runsc: two
// sandboxes on their own bridge, what sandbox A can and cannot reach, and
// that Teardown leaves nothing behind.
//
// Everything uses names of its own (bridge, nft tables, veth prefix, a /24)
// so the test can run next to a driver using the defaults. Traffic only goes
// to the bridge address, the test's own netns addresses and loopback; egress
// is denied, so nothing is forwarded off the machine.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "lifecycle/fs_util.h"
#include "lifecycle/network/sandbox_network.h"
#include "lifecycle/runsc/command_runner.h"
#include "live_support.h"
#include "tcp_listener.h"

using namespace osgv::live;
namespace fs = std::filesystem;

namespace {

constexpr char kBridge[] = "osgvlt0";
constexpr char kTables[] = "osgvlt";
constexpr char kLinks[] = "osgvq";
constexpr char kSubnet[] = "10.213.77.0/24";
constexpr char kGateway[] = "10.213.77.1";

std::string RandomId() {
  std::random_device rd;
  std::mt19937_64 g(rd());
  char buf[40];
  snprintf(buf, sizeof buf, "osgv-%016llx", static_cast<unsigned long long>(g()));
  return buf;
}

struct Sandbox {
  std::string id;
  osgv::NetworkAttachment net;
  std::string bundle;
};

// Owns everything the test creates; the destructor removes it all, also
// after a failed REQUIRE.
struct Rig {
  std::string dir = MakeTempDir("network");
  std::string runsc_root = dir + "/runsc";
  osgv::ProcessRunner runner;
  std::unique_ptr<osgv::HostNetwork> net;
  std::vector<std::string> ids;
  uint16_t gateway_port = static_cast<uint16_t>(20000 + getpid() % 20000);

  Rig() {
    fs::create_directories(runsc_root);
    osgv::HostNetworkOptions o;
    o.state_dir = dir + "/state";
    o.bridge = kBridge;
    o.subnet = kSubnet;
    o.egress_allowed = false;
    o.gateway_port = gateway_port;
    o.table_prefix = kTables;
    o.link_prefix = kLinks;
    net = std::make_unique<osgv::HostNetwork>(&runner, o);
  }
  ~Rig() {
    for (const auto& id : ids) {
      Runsc({"delete", "--force", id}, false);
      (void)net->Teardown(id);
    }
    (void)net->RemoveHost();
    (void)osgv::RemoveTree(dir);
  }

  std::vector<std::string> Global() const {
    return {"runsc", "--root=" + runsc_root, "--network=sandbox", "--overlay2=none"};
  }
  osgv::CommandResult Runsc(std::vector<std::string> args, bool mask, int out_fd = -1) {
    osgv::Command c;
    c.argv = Global();
    c.argv.insert(c.argv.end(), args.begin(), args.end());
    c.timeout = std::chrono::seconds(30);
    c.mask_proc_sys_net = mask;
    if (out_fd >= 0) {
      c.stdout_fd = out_fd;
      c.stderr_fd = out_fd;
    }
    auto r = runner.Run(c);
    if (!r.ok()) {
      osgv::CommandResult failed;
      failed.exit_code = 127;
      failed.stderr_text = std::string(r.status().message());
      return failed;
    }
    return *r;
  }

  // umoci bundle, config.json pointed at the netns with our hosts/resolv.
  void WriteBundle(Sandbox& s, const std::vector<std::string>& args) {
    std::string image = BusyboxImage();
    std::string layout_ref = image.substr(4);  // strip "oci:"
    s.bundle = dir + "/" + s.id;
    auto r = RunCommand({"umoci", "unpack", "--image", layout_ref, s.bundle});
    REQUIRE(r.exit_code == 0);
    nlohmann::json spec = nlohmann::json::parse(std::ifstream(s.bundle + "/config.json"));
    spec["process"]["args"] = args;
    spec["process"]["terminal"] = false;
    spec["hostname"] = "sbx-" + s.id.substr(5, 6);
    auto namespaces = nlohmann::json::array();
    for (const auto& ns : spec["linux"]["namespaces"]) {
      if (ns.value("type", "") != "network") namespaces.push_back(ns);
    }
    namespaces.push_back({{"type", "network"}, {"path", s.net.netns_path}});
    spec["linux"]["namespaces"] = namespaces;
    spec["mounts"].push_back({{"destination", "/etc/hosts"}, {"type", "bind"},
                              {"source", s.net.hosts_path}, {"options", {"bind", "ro"}}});
    spec["mounts"].push_back({{"destination", "/etc/resolv.conf"}, {"type", "bind"},
                              {"source", s.net.resolv_conf_path}, {"options", {"bind", "ro"}}});
    std::ofstream(s.bundle + "/config.json") << spec.dump(2);
  }

  void Boot(const Sandbox& s) {
    REQUIRE(osgv::CheckNotHostNetns(s.net.netns_path).ok());
    int log = open((dir + "/" + s.id + ".console").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    REQUIRE(log >= 0);
    auto c = Runsc({"create", "--bundle", s.bundle, s.id}, true, log);
    auto st = Runsc({"start", s.id}, true, log);
    close(log);
    std::string console;
    {
      std::ifstream f(dir + "/" + s.id + ".console");
      console.assign(std::istreambuf_iterator<char>(f), {});
    }
    INFO("create: " << c.Describe() << "\nstart: " << st.Describe() << "\nconsole: " << console);
    REQUIRE(c.ok());
    REQUIRE(st.ok());
  }

  // busybox nc inside the sandbox; its output (empty when nothing answered).
  std::string Probe(const Sandbox& from, const std::string& ip, uint16_t port) {
    auto r = Runsc({"exec", from.id, "nc", "-w", "2", ip, std::to_string(port)}, false);
    return r.stdout_text;
  }
};

}  // namespace

TEST_CASE("sandbox network: reachability and teardown", "[live][network]") {
  const auto started = std::chrono::steady_clock::now();
  Sandbox a{RandomId(), {}, ""};
  Sandbox b{RandomId(), {}, ""};
  {
    Rig rig;
    rig.ids = {a.id, b.id};
    auto host = rig.net->EnsureHost();
    INFO(host.message());
    REQUIRE(host.ok());

    auto na = rig.net->Setup(a.id, "sandbox-a");
    INFO(na.status().message());
    REQUIRE(na.ok());
    auto nb = rig.net->Setup(b.id, "sandbox-b");
    INFO(nb.status().message());
    REQUIRE(nb.ok());
    a.net = *na;
    b.net = *nb;
    CHECK(a.net.gateway_ip == kGateway);
    CHECK(a.net.sandbox_ip != b.net.sandbox_ip);
    CHECK(osgv::CheckNotHostNetns(a.net.netns_path).ok());
    CHECK_FALSE(osgv::CheckNotHostNetns("/proc/self/ns/net").ok());

    // Host listeners: the gateway port on the bridge; loopback; another port.
    TcpListener gateway(kGateway, rig.gateway_port, "hello-gateway\n");
    TcpListener loopback("127.0.0.1", static_cast<uint16_t>(rig.gateway_port + 1), "hello-loopback\n");
    TcpListener other(kGateway, static_cast<uint16_t>(rig.gateway_port + 2), "hello-other\n");
    REQUIRE(gateway.ok());
    REQUIRE(loopback.ok());
    REQUIRE(other.ok());

    const std::vector<std::string> serve = {
        "/bin/sh", "-c", "while true; do echo hello-sandbox | nc -l -p 9000; done"};
    rig.WriteBundle(a, serve);
    rig.WriteBundle(b, serve);
    rig.Boot(a);
    rig.Boot(b);

    // runsc took eth0's address into its netstack (runsc.md §6).
    auto stripped = RunCommand({"ip", "-n", a.id, "-4", "addr", "show", "dev", "eth0"});
    CHECK(stripped.out.find("inet ") == std::string::npos);

    // The hosts file made it in.
    auto hosts = rig.Runsc({"exec", a.id, "cat", "/etc/hosts"}, false);
    CHECK(hosts.stdout_text.find(std::string(kGateway) + "\thost.openshell.internal") !=
          std::string::npos);

    // Positive controls: the gateway from A; B's listener from the host.
    CHECK(rig.Probe(a, kGateway, rig.gateway_port) == "hello-gateway\n");
    CHECK(HostProbe(b.net.sandbox_ip, 9000) == "hello-sandbox\n");

    // Blocked.
    CHECK(rig.Probe(a, kGateway, static_cast<uint16_t>(rig.gateway_port + 2)).empty());
    CHECK(rig.Probe(a, "127.0.0.1", static_cast<uint16_t>(rig.gateway_port + 1)).empty());
    CHECK(rig.Probe(a, b.net.sandbox_ip, 9000).empty());
    CHECK(rig.Probe(a, "169.254.169.254", 80).empty());
    CHECK(other.accepted() == 0);
    CHECK(loopback.accepted() == 0);
    CHECK(gateway.accepted() == 1);

    // Re-create A in the same netns: PrepareRestore puts back what runsc
    // stripped, and the gateway is reachable again.
    rig.Runsc({"delete", "--force", a.id}, false);
    auto again = rig.net->PrepareRestore(a.id);
    INFO(again.status().message());
    REQUIRE(again.ok());
    CHECK(again->sandbox_ip == a.net.sandbox_ip);
    rig.Boot(a);
    CHECK(rig.Probe(a, kGateway, rig.gateway_port) == "hello-gateway\n");

    // Listing finds both; teardown is idempotent.
    auto listed = rig.net->ListAttachments();
    REQUIRE(listed.ok());
    CHECK(listed->size() == 2);
    for (const auto* s : {&a, &b}) {
      rig.Runsc({"delete", "--force", s->id}, false);
      CHECK(rig.net->Teardown(s->id).ok());
      CHECK(rig.net->Teardown(s->id).ok());
      CHECK_FALSE(rig.net->IsOurs(s->id));
    }
    CHECK(rig.net->ListAttachments()->empty());
    CHECK(rig.net->RemoveHost().ok());
  }

  // Nothing of ours is left.
  auto netns = RunCommand({"ip", "netns", "list"});
  CHECK(netns.out.find(a.id) == std::string::npos);
  CHECK(netns.out.find(b.id) == std::string::npos);
  auto links = RunCommand({"ip", "-o", "link"});
  CHECK(links.out.find(kBridge) == std::string::npos);
  CHECK(links.out.find(std::string(": ") + kLinks) == std::string::npos);
  auto tables = RunCommand({"nft", "list", "tables"});
  CHECK(tables.out.find(kTables) == std::string::npos);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(60));
}
