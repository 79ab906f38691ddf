#include "cli/run/run_options.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <string>
#include <vector>

#include "capabilities/validation.h"
#include "lifecycle/image/busybox_image.h"
#include "temp_dir.h"

namespace osgv {
namespace {

using Args = std::vector<std::string>;

TEST_CASE("run parses every flag and keeps CMD verbatim after --", "[run]") {
  testing::TempDir host;
  auto o = ParseRunArgs({"--image", "oci:/srv/img:v1", "--network", "sandbox", "--memory", "256Mi",
                         "--cpu", "500m", "--env", "A=1", "--env", "B=x=y", "--mount",
                         host.path() + ":/data:ro", "--keep", "--state-dir", "/var/tmp/s", "--",
                         "sh", "-c", "exit 7", "--keep"});
  INFO(o.status());
  REQUIRE(o.ok());
  CHECK(o->image == "oci:/srv/img:v1");
  CHECK(o->network == "sandbox");
  CHECK(o->memory == "256Mi");
  CHECK(o->cpu == "500m");
  CHECK(o->env == std::map<std::string, std::string>{{"A", "1"}, {"B", "x=y"}});
  REQUIRE(o->mounts.size() == 1);
  CHECK(o->mounts[0].source == host.path());
  CHECK(o->mounts[0].destination == "/data");
  CHECK(o->mounts[0].read_only);
  CHECK(o->keep);
  CHECK(o->state_dir == "/var/tmp/s");
  CHECK(o->command == Args{"sh", "-c", "exit 7", "--keep"});
}

TEST_CASE("run defaults to network none and a temporary state dir", "[run]") {
  auto o = ParseRunArgs({"--", "true"});
  REQUIRE(o.ok());
  CHECK(o->network == "none");
  CHECK(o->state_dir.empty());
  CHECK(o->image.empty());
  CHECK_FALSE(o->keep);
}

TEST_CASE("run rejects a missing command and stray arguments", "[run]") {
  CHECK(ParseRunArgs({}).status().message() == "missing -- CMD...");
  CHECK(ParseRunArgs({"--"}).status().message() == "missing -- CMD...");
  auto stray = ParseRunArgs({"echo", "hi"});
  CHECK(stray.status().message().find("put CMD after --") != std::string::npos);
}

TEST_CASE("run rejects bad network modes env pairs and state dirs", "[run]") {
  CHECK(ParseRunArgs({"--network", "host", "--", "true"}).status().message().find("none or sandbox") !=
        std::string::npos);
  CHECK(ParseRunArgs({"--env", "NOEQUALS", "--", "true"}).status().message().find("KEY=VALUE") !=
        std::string::npos);
  CHECK(ParseRunArgs({"--env", "=v", "--", "true"}).status().message().find("KEY=VALUE") !=
        std::string::npos);
  CHECK(ParseRunArgs({"--state-dir", "rel", "--", "true"}).status().message().find("absolute") !=
        std::string::npos);
  CHECK_FALSE(ParseRunArgs({"--bogus", "--", "true"}).ok());
}

TEST_CASE("mount specs parse HOST:SANDBOX with an optional ro or rw", "[run]") {
  auto rw = ParseMountSpec("/srv/data:/data");
  REQUIRE(rw.ok());
  CHECK(rw->source == "/srv/data");
  CHECK(rw->destination == "/data");
  CHECK_FALSE(rw->read_only);
  auto ro = ParseMountSpec("/srv/data:/data:ro");
  REQUIRE(ro.ok());
  CHECK(ro->read_only);
  auto explicit_rw = ParseMountSpec("/a:/b:rw");
  REQUIRE(explicit_rw.ok());
  CHECK_FALSE(explicit_rw->read_only);
}

TEST_CASE("mount specs reject relative paths and unknown options", "[run]") {
  CHECK(ParseMountSpec("rel:/data").status().message().find("HOST must be an absolute") !=
        std::string::npos);
  CHECK(ParseMountSpec("/srv:data").status().message().find("SANDBOX must be an absolute") !=
        std::string::npos);
  CHECK(ParseMountSpec("/srv:/data:rx").status().message().find("ro or rw") != std::string::npos);
  CHECK(ParseMountSpec("/srv").status().message().find("HOST:SANDBOX") != std::string::npos);
  CHECK(ParseMountSpec("/a:/b:ro:x").status().message().find("HOST:SANDBOX") != std::string::npos);
}

TEST_CASE("run checks mounts against the host and the reserved paths", "[run]") {
  testing::TempDir host;
  auto missing = ParseRunArgs({"--mount", host / "absent:/data", "--", "true"});
  CHECK(missing.status().message().find("No such file") != std::string::npos);
  auto reserved = ParseRunArgs({"--mount", host.path() + ":/etc/openshell/x", "--", "true"});
  CHECK(reserved.status().message().find("reserved") != std::string::npos);
  auto root = ParseRunArgs({"--mount", host.path() + ":/", "--", "true"});
  CHECK(root.status().message().find("over '/'") != std::string::npos);
  auto dotdot = ParseRunArgs({"--mount", host.path() + ":/data/../etc", "--", "true"});
  CHECK_FALSE(dotdot.ok());
}

TEST_CASE("probe takes json but no command", "[run]") {
  auto o = ParseProbeArgs({"--json", "--network", "sandbox"});
  REQUIRE(o.ok());
  CHECK(o->json);
  CHECK(o->network == "sandbox");
  CHECK_FALSE(ParseProbeArgs({"--", "sh"}).ok());
  CHECK_FALSE(ParseProbeArgs({"--keep"}).ok());
}

TEST_CASE("probe takes mounts and a fixtures dir to weaken it on purpose", "[run]") {
  testing::TempDir host;
  auto o = ParseProbeArgs({"--mount", host.path() + ":" + host.path() + ":ro", "--fixtures-dir",
                           host.path()});
  REQUIRE(o.ok());
  REQUIRE(o->mounts.size() == 1);
  CHECK(o->mounts[0].source == host.path());
  CHECK(o->mounts[0].destination == host.path());
  CHECK(o->mounts[0].read_only);
  CHECK(o->fixtures_dir == host.path());
  CHECK(ParseProbeArgs({}).value().mounts.empty());
  CHECK(ParseProbeArgs({}).value().fixtures_dir.empty());
  auto missing = ParseProbeArgs({"--mount", host / "absent:/data"});
  CHECK(missing.status().message().find("No such file") != std::string::npos);
  CHECK_FALSE(ParseProbeArgs({"--fixtures-dir", "relative"}).ok());
  CHECK_FALSE(ParseProbeArgs({"--memory", "1Gi"}).ok());
}

TEST_CASE("an ephemeral request carries limits env mounts and the keep-alive but no token", "[run]") {
  RunOptions o;
  o.memory = "64Mi";
  o.cpu = "250m";
  o.env = {{"K", "V"}};
  o.mounts = {{"/srv", "/data", true}};
  auto r = EphemeralRequest(o, "run-abc", "oci:/i:v1", {"/bin/sleep", "9"});
  CHECK(r.id == "run-abc");
  CHECK(r.name == "run-abc");
  CHECK(r.spec.tmpl.image == "oci:/i:v1");
  CHECK(r.spec.command == Args{"/bin/sleep", "9"});
  REQUIRE(r.spec.tmpl.resources.has_value());
  CHECK(r.spec.tmpl.resources->memory_limit == "64Mi");
  CHECK(r.spec.tmpl.resources->cpu_limit == "250m");
  CHECK(r.spec.environment.at("K") == "V");
  REQUIRE(r.spec.host_mounts.size() == 1);
  CHECK(r.spec.host_mounts[0].read_only);
  CHECK(r.spec.sandbox_token.empty());
  CHECK_FALSE(EphemeralRequest(RunOptions{}, "n", "i", {}).spec.tmpl.resources.has_value());
}

TEST_CASE("run config lets the sandbox use the image the operator named", "[run][oci_roots]") {
  testing::TempDir dir;
  std::string file = dir / "c.yaml";
  { std::ofstream(file) << "images:\n  oci_roots: [/srv/images]\n"; }
  RunOptions o;
  o.config_file = file;
  o.image = "oci:/home/me/layouts/app/:v1";
  auto c = RunConfig(o, "/var/tmp/x");
  REQUIRE(c.ok());
  CHECK(c->images.oci_roots == Args{"/srv/images", "/home/me/layouts/app"});

  o.image = "";  // the busybox image, built in the default cache
  CHECK(RunConfig(o, "/var/tmp/x")->images.oci_roots == Args{"/srv/images", kDefaultImageCacheDir});
  o.image = "docker.io/library/busybox:1.36";
  CHECK(RunConfig(o, "/var/tmp/x")->images.oci_roots == Args{"/srv/images"});

  // What `run` then validates its own request with accepts that layout.
  RunOptions bare;
  bare.image = "oci:/home/me/layouts/app:v1";
  Config config = RunConfig(bare, "/var/tmp/x").value();
  CHECK(ValidateSandboxRequest(EphemeralRequest(bare, "run-abc", bare.image, {"/bin/sleep", "9"}),
                               config)
            .ok());
}

TEST_CASE("run config sets the network mode and never the supervisor", "[run]") {
  testing::TempDir dir;
  std::string file = dir / "c.yaml";
  { std::ofstream(file) << "supervisor:\n  binary: /usr/bin/openshell-sandbox\ngateway:\n  endpoint: http://host.openshell.internal:8080\n"; }
  RunOptions o;
  o.network = "sandbox";
  o.config_file = file;
  auto c = RunConfig(o, "/var/tmp/x");
  INFO(c.status());
  REQUIRE(c.ok());
  CHECK(c->network.mode == NetworkMode::kSandbox);
  CHECK(c->state_dir == "/var/tmp/x");
  CHECK(c->supervisor.binary.empty());
}

}  // namespace
}  // namespace osgv
