// SandboxHost on its own: what it does to the (faked) machine for one
// sandbox, apart from any record. The manager's tests cover it in use.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "lifecycle/bundle/token_file.h"
#include "lifecycle/fs_util.h"
#include "lifecycle/sandbox_host.h"
#include "unit/manager_fixture.h"

namespace osgv {
namespace {

namespace fs = std::filesystem;
using testing::ManagerFixture;
using testing::WriteAll;

struct HostFixture : ManagerFixture {
  HostSeams seams;
  SandboxPlan plan;

  HostFixture() {
    plan.image = image_ref;
    seams.config = &config;
    seams.layout = &layout;
    seams.runsc = runsc.get();
    seams.images = images.get();
    seams.mounter = &mounter;
    seams.monitors = &launcher;
    seams.cgroup_root = cgroup_root;
  }
  SandboxHost Host(const std::string& rid) { return SandboxHost(&seams, "sb-1", "alpha", rid, &plan); }
};

TEST_CASE("SandboxHost: an orphan's release removes its runsc container and unmounts its rootfs, "
          "keeping its files",
          "[host]") {
  HostFixture f;
  const std::string rid = f.NewId();
  REQUIRE(MakeDirs(f.layout.sandbox_dir(rid), 0700).ok());
  f.mounter.AddMount(f.layout.rootfs(rid));
  SandboxHost::Orphan(&f.seams, rid).Release();
  CHECK(f.runner.SawForceDelete(rid));
  CHECK(f.mounter.mounts().empty());
  CHECK(fs::exists(f.layout.sandbox_dir(rid)));
}

TEST_CASE("SandboxHost: RemoveFiles takes the token, mounts, network, checkpoints and directory",
          "[host]") {
  HostFixture f;
  f.seams.network = &f.net;
  const std::string rid = f.NewId();
  SandboxHost host = f.Host(rid);
  const std::string dir = f.layout.sandbox_dir(rid);
  REQUIRE(MakeDirs(dir, 0700).ok());
  REQUIRE(WriteTokenFile(dir, "secret-token").ok());
  REQUIRE(MakeDirs(host.checkpoint().image(), 0700).ok());
  f.mounter.AddMount(f.layout.rootfs(rid));
  REQUIRE(f.net.Setup(rid, "alpha").ok());

  REQUIRE(host.RemoveFiles().ok());
  CHECK_FALSE(fs::exists(dir));
  CHECK_FALSE(fs::exists(host.checkpoint().root));
  CHECK(f.mounter.mounts().empty());
  CHECK_FALSE(f.net.IsOurs(rid));
}

TEST_CASE("SandboxHost: the network a boot needs follows the plan", "[host]") {
  HostFixture f;
  const std::string rid = f.NewId();
  SandboxRequest request;
  request.id = "sb-1";

  SECTION("a plan without a network connects nothing") {
    f.seams.network = &f.net;
    auto net = f.Host(rid).ConnectNetwork(request, nullptr);
    REQUIRE(net.ok());
    CHECK_FALSE(net->has_value());
    CHECK(f.net.calls.empty());
  }
  SECTION("a networked plan on a driver without a network is refused, naming the sandbox") {
    f.plan.networked = true;
    auto net = f.Host(rid).ConnectNetwork(request, nullptr);
    REQUIRE(net.status().code() == absl::StatusCode::kFailedPrecondition);
    CHECK_THAT(std::string(net.status().message()), Catch::Contains("sandbox 'sb-1'") &&
                                                        Catch::Contains("network.mode none"));
  }
  SECTION("a networked plan is set up once, then prepared for each later boot") {
    f.plan.networked = true;
    f.seams.network = &f.net;
    auto first = f.Host(rid).ConnectNetwork(request, nullptr);
    REQUIRE(first.ok());
    REQUIRE(first->has_value());
    auto again = f.Host(rid).ConnectNetwork(request, nullptr);
    REQUIRE(again.ok());
    CHECK((*again)->sandbox_ip == (*first)->sandbox_ip);
    CHECK(f.net.calls == std::vector<std::string>{"setup " + rid, "restore " + rid});
  }
}

TEST_CASE("SandboxHost: the monitor joins the sandbox's netns and forgets an earlier exit",
          "[host]") {
  HostFixture f;
  const std::string rid = f.NewId();
  REQUIRE(MakeDirs(f.layout.sandbox_dir(rid), 0700).ok());
  f.WriteExit(rid, 3);
  NetworkAttachment net;
  net.netns_path = "/run/netns/" + rid;

  auto handle = f.Host(rid).LaunchMonitor(&net, "/restore/from");
  REQUIRE(handle.ok());
  CHECK_FALSE(fs::exists(f.layout.exit_file(rid)));
  auto calls = f.launcher.calls();
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].spec.container_id == rid);
  CHECK(calls[0].spec.runsc.network == "sandbox");
  CHECK(calls[0].spec.runsc.netns_path == net.netns_path);
  CHECK(calls[0].spec.restore_image_dir == "/restore/from");
}

TEST_CASE("SandboxHost: only the sandbox's own live monitor counts as its monitor", "[host]") {
  HostFixture f;
  const std::string rid = f.NewId();
  SandboxHost host = f.Host(rid);
  CHECK(host.MonitorPid() == 0);  // no pid file
  REQUIRE(MakeDirs(f.layout.sandbox_dir(rid), 0700).ok());
  // A live process, but not a monitor of this sandbox (a recycled pid).
  WriteAll(f.layout.monitor_pid(rid), std::to_string(getpid()) + "\n");
  CHECK(host.MonitorPid() == 0);
  CHECK_FALSE(host.RecordedExitCode().has_value());
  f.WriteExit(rid, 7);
  CHECK(host.RecordedExitCode() == 7);
}

}  // namespace
}  // namespace osgv
