// The bundle writer (bundle/bundle_writer.h): config.json from the plan,
// the sandbox dir's modes, and the legacy netns read for records from
// before plans.
#include "lifecycle/bundle/bundle_writer.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "lifecycle/bundle/oci_spec.h"
#include "lifecycle/fs_util.h"
#include "temp_dir.h"

namespace osgv {
namespace {

using testing::TempDir;

int ModeOf(const std::string& path) {
  struct stat st;
  REQUIRE(stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

// A direct-mode sandbox on an image whose root is 0755.
struct Rig {
  TempDir tmp;
  Config config;
  SandboxPlan plan;
  SandboxRequest request;
  PreparedImage image;
  NetworkAttachment net;
  BundleInputs in;

  Rig() {
    request.id = "sb-1";
    request.name = "alpha";
    request.spec.command = {"/bin/sh"};
    image.rootfs_dir = tmp.Dir("image-root");
    REQUIRE(chmod(image.rootfs_dir.c_str(), 0755) == 0);
    plan.memory_limit_bytes = 64ULL << 20;
    plan.pids_limit = 512;
    net.netns_path = "/run/netns/osgv-x";
    net.hosts_path = tmp / "hosts";
    net.resolv_conf_path = tmp / "resolv.conf";
    in.config = &config;
    in.plan = &plan;
    in.request = &request;
    in.image = &image;
    in.runsc_id = "osgv-x";
    in.paths = SandboxPaths{tmp / "sandbox"};
  }
  nlohmann::json Written() const {
    auto text = ReadFile(in.paths.bundle_config());
    REQUIRE(text.ok());
    return nlohmann::json::parse(*text);
  }
};

TEST_CASE("bundle writer: config.json from the plan, private, in a sandbox dir runsc can traverse",
          "[bundle_writer]") {
  Rig rig;
  REQUIRE(WriteBundle(rig.in).ok());
  const SandboxPaths& p = rig.in.paths;
  auto spec = rig.Written();
  CHECK(spec["linux"]["resources"]["memory"]["limit"] == 64LL << 20);
  CHECK(spec["linux"]["resources"]["pids"]["limit"] == 512);
  CHECK(spec["linux"]["cgroupsPath"] == "/openshell-gvisor/osgv-x");
  CHECK(SpecNetnsPath(spec).empty());
  CHECK(ModeOf(p.bundle_config()) == 0600);
  CHECK(ModeOf(p.dir) == 0700);
  CHECK(ModeOf(p.bundle()) == 0711);
  CHECK(ModeOf(p.rootfs()) == 0755);
  CHECK(ModeOf(p.work()) == 0700);
  CHECK(ModeOf(p.upper()) == 0755);  // the image root's, so a non-root user reaches /bin
}

TEST_CASE("bundle writer: a networked plan joins the attachment's netns and files",
          "[bundle_writer]") {
  Rig rig;
  rig.plan.networked = true;
  rig.in.net = &rig.net;
  REQUIRE(WriteBundle(rig.in).ok());
  auto spec = rig.Written();
  CHECK(SpecNetnsPath(spec) == "/run/netns/osgv-x");
  std::map<std::string, std::string> sources;
  for (const auto& m : spec["mounts"]) sources[m["destination"]] = m.value("source", "");
  CHECK(sources["/etc/hosts"] == rig.net.hosts_path);
  CHECK(sources["/etc/resolv.conf"] == rig.net.resolv_conf_path);
}

TEST_CASE("bundle writer: a network unlike the plan's, or a refused spec, writes nothing",
          "[bundle_writer]") {
  Rig rig;
  SECTION("networked plan, no attachment") {
    rig.plan.networked = true;
    CHECK(WriteBundle(rig.in).code() == absl::StatusCode::kInternal);
  }
  SECTION("attachment for a plan without network") {
    rig.in.net = &rig.net;
    CHECK(WriteBundle(rig.in).code() == absl::StatusCode::kInternal);
  }
  SECTION("nothing to run") {
    rig.request.spec.command.clear();
    auto st = WriteBundle(rig.in);
    CHECK(st.code() == absl::StatusCode::kFailedPrecondition);
    CHECK_THAT(std::string(st.message()), Catch::StartsWith("sandbox.spec.command: "));
  }
  CHECK_FALSE(std::filesystem::exists(rig.in.paths.dir));
}

TEST_CASE("bundle writer: a legacy bundle's netns, read only for records from before plans",
          "[bundle_writer]") {
  TempDir tmp;
  const std::string path = tmp / "config.json";
  CHECK(LegacyBundleNetworked(path) == std::nullopt);  // no bundle yet
  std::ofstream(path) << "not json";
  CHECK(LegacyBundleNetworked(path) == std::nullopt);
  std::ofstream(path) << R"({"linux": {"namespaces": [{"type": "pid"}]}})";
  CHECK(LegacyBundleNetworked(path) == false);
  std::ofstream(path) << R"({"linux": {"namespaces": [{"type": "network",)"
                       << R"( "path": "/run/netns/a"}]}})";
  CHECK(LegacyBundleNetworked(path) == true);
}

}  // namespace
}  // namespace osgv
