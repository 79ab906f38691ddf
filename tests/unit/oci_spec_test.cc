#include "temp_dir.h"
#include "lifecycle/bundle/oci_spec.h"

#include <stdlib.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "openshell_gvisor/sandbox.h"

namespace osgv {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using nlohmann::json;
using Env = std::vector<std::string>;
using Map = std::map<std::string, std::string>;

constexpr char kDefaultPath[] =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// A fresh directory per test, removed afterwards.
void WriteText(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream out(path, std::ios::trunc);
  out << text;
  REQUIRE(out.good());
}

size_t CountKey(const Env& env, const std::string& key) {
  return static_cast<size_t>(std::count_if(env.begin(), env.end(), [&](const std::string& kv) {
    return kv.rfind(key + "=", 0) == 0;
  }));
}

// ---- MergeEnvironment -------------------------------------------------------

TEST_CASE("MergeEnvironment: spec env beats template env beats image Env", "[oci_spec][env]") {
  Env image = {"A=image", "B=image", "PATH=/image/bin", "D=image"};
  Map tmpl = {{"B", "template"}, {"C", "template"}};
  Map spec = {{"C", "spec"}, {"A", "spec"}, {"E", "spec"}};

  Env out = MergeEnvironment(image, tmpl, spec);
  // Replaced keys keep the position of their first appearance; new keys are
  // appended in the order they arrive (template first, then spec; each map
  // in key order).
  CHECK(out == Env{"A=spec", "B=template", "PATH=/image/bin", "D=image", "C=spec", "E=spec"});
}

TEST_CASE("MergeEnvironment: template beats image when spec is silent", "[oci_spec][env]") {
  Env out = MergeEnvironment({"PATH=/p", "X=1"}, {{"X", "2"}}, {});
  CHECK(out == Env{"PATH=/p", "X=2"});
}

TEST_CASE("MergeEnvironment: each key appears once", "[oci_spec][env]") {
  Env out = MergeEnvironment({"PATH=/p", "A=1", "A=2"}, {{"A", "3"}}, {{"A", "4"}});
  CHECK(CountKey(out, "A") == 1);
  CHECK(out == Env{"PATH=/p", "A=4"});
}

TEST_CASE("MergeEnvironment: a key that is a prefix of another is distinct", "[oci_spec][env]") {
  Env out = MergeEnvironment({"PATH=/p", "AB=1", "A=2"}, {}, {{"A", "3"}});
  CHECK(out == Env{"PATH=/p", "AB=1", "A=3"});
}

TEST_CASE("MergeEnvironment: values keep '=' and may be empty", "[oci_spec][env]") {
  Env out = MergeEnvironment({"PATH=/p", "OPTS=a=b=c", "EMPTY="}, {}, {{"S", "x=y"}});
  CHECK(out == Env{"PATH=/p", "OPTS=a=b=c", "EMPTY=", "S=x=y"});
}

TEST_CASE("MergeEnvironment: malformed image entries are skipped", "[oci_spec][env]") {
  Env out = MergeEnvironment({"PATH=/p", "NOEQUALS", "", "GOOD=1"}, {}, {});
  CHECK(out == Env{"PATH=/p", "GOOD=1"});
}

TEST_CASE("MergeEnvironment: default PATH only when no layer sets one", "[oci_spec][env]") {
  SECTION("nothing sets PATH: the default comes first") {
    Env out = MergeEnvironment({"A=1"}, {{"B", "2"}}, {{"C", "3"}});
    REQUIRE(!out.empty());
    CHECK(out.front() == kDefaultPath);
    CHECK(CountKey(out, "PATH") == 1);
    CHECK(out == Env{kDefaultPath, "A=1", "B=2", "C=3"});
  }
  SECTION("all empty: just the default PATH") {
    CHECK(MergeEnvironment({}, {}, {}) == Env{kDefaultPath});
  }
  SECTION("image sets PATH") {
    Env out = MergeEnvironment({"PATH=/img"}, {}, {});
    CHECK(out == Env{"PATH=/img"});
  }
  SECTION("template sets PATH") {
    Env out = MergeEnvironment({"A=1"}, {{"PATH", "/tmpl"}}, {});
    CHECK(out == Env{"A=1", "PATH=/tmpl"});
  }
  SECTION("spec sets PATH, replacing the image's in place") {
    Env out = MergeEnvironment({"A=1", "PATH=/img"}, {}, {{"PATH", "/spec"}});
    CHECK(out == Env{"A=1", "PATH=/spec"});
  }
  SECTION("a PATHX variable is not PATH") {
    Env out = MergeEnvironment({"PATHX=1"}, {}, {});
    CHECK(out == Env{kDefaultPath, "PATHX=1"});
  }
}

// ---- MainProcessArgs --------------------------------------------------------

SandboxRequest Request() {
  SandboxRequest r;
  r.id = "sb-id-1";
  r.name = "my-sandbox";
  r.namespace_name = "default";
  r.spec.tmpl.image = "oci:/images/app:latest";
  return r;
}

TEST_CASE("MainProcessArgs: spec.command wins over the image", "[oci_spec][args]") {
  SandboxRequest req = Request();
  req.spec.command = {"/bin/echo", "hello world"};
  ImageConfig image;
  image.entrypoint = {"/entry"};
  image.cmd = {"--flag"};
  auto args = MainProcessArgs(req, image);
  REQUIRE(args.ok());
  CHECK(*args == std::vector<std::string>{"/bin/echo", "hello world"});
}

TEST_CASE("MainProcessArgs: Entrypoint then Cmd", "[oci_spec][args]") {
  SandboxRequest req = Request();
  ImageConfig image;
  SECTION("both") {
    image.entrypoint = {"/entry", "-x"};
    image.cmd = {"serve", "--port=80"};
    auto args = MainProcessArgs(req, image);
    REQUIRE(args.ok());
    CHECK(*args == std::vector<std::string>{"/entry", "-x", "serve", "--port=80"});
  }
  SECTION("Cmd only") {
    image.cmd = {"/bin/sh", "-c", "sleep infinity"};
    auto args = MainProcessArgs(req, image);
    REQUIRE(args.ok());
    CHECK(*args == std::vector<std::string>{"/bin/sh", "-c", "sleep infinity"});
  }
  SECTION("Entrypoint only") {
    image.entrypoint = {"/init"};
    auto args = MainProcessArgs(req, image);
    REQUIRE(args.ok());
    CHECK(*args == std::vector<std::string>{"/init"});
  }
}

TEST_CASE("MainProcessArgs: nothing to run is FAILED_PRECONDITION naming the field",
          "[oci_spec][args]") {
  SandboxRequest req = Request();
  ImageConfig image;
  auto args = MainProcessArgs(req, image);
  REQUIRE(!args.ok());
  CHECK(args.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(args.status().message()), Catch::Contains("sandbox.spec.command"));
  CHECK_THAT(std::string(args.status().message()), Catch::Contains("oci:/images/app:latest"));
}

// ---- BuildRuntimeSpec -------------------------------------------------------

struct SpecFixture {
  SandboxRequest req = Request();
  ImageConfig image;
  SpecInputs in;

  SpecFixture() {
    image.cmd = {"/bin/sleep", "infinity"};
    image.env = {"PATH=/usr/bin", "IMG=1"};
    in.request = &req;
    in.image = &image;
    in.cgroups_path = "/openshell-gvisor/osgv-0123";
  }

  json Build() {
    auto spec = BuildRuntimeSpec(in);
    REQUIRE(spec.ok());
    return *spec;
  }
};

TEST_CASE("BuildRuntimeSpec: hostname, root, terminal and args", "[oci_spec][spec]") {
  SpecFixture f;
  json spec = f.Build();
  CHECK(spec.at("hostname") == "my-sandbox");
  CHECK(spec.at("root").at("path") == "rootfs");
  CHECK(spec.at("root").at("readonly") == false);
  CHECK(spec.at("process").at("terminal") == false);
  CHECK(spec.at("process").at("args") == json::array({"/bin/sleep", "infinity"}));
  CHECK(spec.contains("ociVersion"));
}

TEST_CASE("BuildRuntimeSpec: the environment is the merged one", "[oci_spec][spec]") {
  SpecFixture f;
  f.req.spec.tmpl.environment = {{"IMG", "template"}, {"T", "1"}};
  f.req.spec.environment = {{"T", "spec"}};
  json spec = f.Build();
  CHECK(spec.at("process").at("env") ==
        json::array({"PATH=/usr/bin", "IMG=template", "T=spec"}));
}

TEST_CASE("BuildRuntimeSpec: the token never reaches the spec", "[oci_spec][spec]") {
  SpecFixture f;
  f.req.spec.sandbox_token = "eyJ-secret-token-value";
  json spec = f.Build();
  CHECK(spec.dump().find("eyJ-secret-token-value") == std::string::npos);
}

TEST_CASE("BuildRuntimeSpec: labels become annotations with the sandbox identity",
          "[oci_spec][spec]") {
  SpecFixture f;
  f.req.spec.tmpl.labels = {{"team", "infra"}, {"app.kubernetes.io/name", "web"}};
  json ann = f.Build().at("annotations");
  CHECK(ann.at("team") == "infra");
  CHECK(ann.at("app.kubernetes.io/name") == "web");
  CHECK(ann.at("dev.openshell.sandbox.id") == "sb-id-1");
  CHECK(ann.at("dev.openshell.sandbox.name") == "my-sandbox");
}

TEST_CASE("BuildRuntimeSpec: a label cannot spoof the sandbox identity", "[oci_spec][spec]") {
  SpecFixture f;
  f.req.spec.tmpl.labels = {{"dev.openshell.sandbox.id", "spoofed"},
                            {"dev.openshell.sandbox.name", "spoofed"}};
  json ann = f.Build().at("annotations");
  CHECK(ann.at("dev.openshell.sandbox.id") == "sb-id-1");
  CHECK(ann.at("dev.openshell.sandbox.name") == "my-sandbox");
}

TEST_CASE("BuildRuntimeSpec: cwd is the image WorkingDir, else /", "[oci_spec][spec]") {
  SpecFixture f;
  CHECK(f.Build().at("process").at("cwd") == "/");
  f.image.working_dir = "/srv/app";
  CHECK(f.Build().at("process").at("cwd") == "/srv/app");
}

TEST_CASE("BuildRuntimeSpec: process user", "[oci_spec][spec]") {
  SpecFixture f;
  SECTION("root, no additional groups") {
    json user = f.Build().at("process").at("user");
    CHECK(user.at("uid") == 0);
    CHECK(user.at("gid") == 0);
    CHECK(!user.contains("additionalGids"));
  }
  SECTION("uid, gid and additional groups") {
    f.in.user.uid = 1000;
    f.in.user.gid = 1001;
    f.in.user.additional_gids = {999, 44};
    json user = f.Build().at("process").at("user");
    CHECK(user.at("uid") == 1000);
    CHECK(user.at("gid") == 1001);
    CHECK(user.at("additionalGids") == json::array({999, 44}));
  }
}

TEST_CASE("BuildRuntimeSpec: no network namespace and the given cgroupsPath",
          "[oci_spec][spec]") {
  SpecFixture f;
  json linux_ = f.Build().at("linux");
  CHECK(linux_.at("cgroupsPath") == "/openshell-gvisor/osgv-0123");
  REQUIRE(linux_.at("namespaces").is_array());
  std::vector<std::string> types;
  for (const auto& ns : linux_.at("namespaces")) types.push_back(ns.at("type"));
  CHECK(std::find(types.begin(), types.end(), "network") == types.end());
  CHECK(std::find(types.begin(), types.end(), "pid") != types.end());
  CHECK(std::find(types.begin(), types.end(), "mount") != types.end());
  CHECK(SpecNetnsPath(f.Build()).empty());
}

TEST_CASE("BuildRuntimeSpec: a netns path becomes the network namespace runsc scrapes",
          "[oci_spec][spec]") {
  SpecFixture f;
  f.in.netns_path = "/run/netns/osgv-0123";
  json spec = f.Build();
  int network = 0;
  for (const auto& ns : spec.at("linux").at("namespaces")) {
    if (ns.at("type") == "network") {
      ++network;
      CHECK(ns.at("path") == "/run/netns/osgv-0123");
    }
  }
  CHECK(network == 1);
  CHECK(SpecNetnsPath(spec) == "/run/netns/osgv-0123");
  CHECK(SpecNetnsPath(json::parse("{}")).empty());
  CHECK(SpecNetnsPath(json::parse(R"({"linux": {"namespaces": 3}})")).empty());
}

TEST_CASE("BuildRuntimeSpec: resources", "[oci_spec][spec]") {
  SpecFixture f;
  SECTION("none when every limit is 0") {
    json res = f.Build().at("linux").value("resources", json::object());
    CHECK(!res.contains("memory"));
    CHECK(!res.contains("cpu"));
    CHECK(!res.contains("pids"));
  }
  SECTION("memory, cpu and pids") {
    f.in.memory_limit_bytes = 512ull << 20;
    f.in.cpu_limit_millis = 500;
    f.in.pids_limit = 256;
    json res = f.Build().at("linux").at("resources");
    CHECK(res.at("memory").at("limit") == (512ll << 20));
    CHECK(res.at("cpu").at("quota") == 50000);
    CHECK(res.at("cpu").at("period") == 100000);
    CHECK(res.at("pids").at("limit") == 256);
  }
  SECTION("two CPUs") {
    f.in.cpu_limit_millis = 2000;
    json res = f.Build().at("linux").at("resources");
    CHECK(res.at("cpu").at("quota") == 200000);
    CHECK(res.at("cpu").at("period") == 100000);
    CHECK(!res.contains("memory"));
    CHECK(!res.contains("pids"));
  }
  SECTION("memory only, beyond 4 GiB") {
    f.in.memory_limit_bytes = 8ull << 30;
    json res = f.Build().at("linux").at("resources");
    CHECK(res.at("memory").at("limit") == (8ll << 30));
    CHECK(!res.contains("cpu"));
  }
}

TEST_CASE("BuildRuntimeSpec: nothing to run is an error, not a spec", "[oci_spec][spec]") {
  SpecFixture f;
  f.image.cmd.clear();
  auto spec = BuildRuntimeSpec(f.in);
  REQUIRE(!spec.ok());
  CHECK(spec.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(spec.status().message()), Catch::Contains("sandbox.spec.command"));
}

// ---- BuildRuntimeSpec: env override, supervisor mode, extra mounts -----------

TEST_CASE("BuildRuntimeSpec: an explicit env replaces the merged one", "[oci_spec][spec]") {
  SpecFixture f;
  f.in.env = Env{"PATH=/p", "OPENSHELL_SANDBOX_ID=sb-id-1"};
  CHECK(f.Build().at("process").at("env") == json::array({"PATH=/p", "OPENSHELL_SANDBOX_ID=sb-id-1"}));
}

ProcessOverride Supervisor() {
  ProcessOverride p;
  p.args = {"/opt/openshell/bin/openshell-sandbox", "--workdir", "/sandbox"};
  p.uid = 0;
  p.gid = 0;
  p.cwd = "/";
  p.env = {"HOME=/root", "OPENSHELL_SANDBOX_ID=sb-id-1"};
  p.capabilities = {"CAP_SYS_ADMIN", "CAP_NET_ADMIN"};
  return p;
}

TEST_CASE("BuildRuntimeSpec: supervisor mode replaces the process", "[oci_spec][spec][supervisor]") {
  SpecFixture f;
  f.in.user.uid = 1000;  // the image user: ignored, the supervisor runs as root
  f.in.user.gid = 1000;
  f.in.user.additional_gids = {44};
  f.in.env = Env{"IGNORED=1"};
  f.image.working_dir = "/srv";
  f.in.supervisor = Supervisor();
  json process = f.Build().at("process");
  CHECK(process.at("args") ==
        json::array({"/opt/openshell/bin/openshell-sandbox", "--workdir", "/sandbox"}));
  CHECK(process.at("user") == json({{"uid", 0}, {"gid", 0}}));
  CHECK(process.at("cwd") == "/");
  CHECK(process.at("env") == json::array({"HOME=/root", "OPENSHELL_SANDBOX_ID=sb-id-1"}));
  for (const char* set : {"bounding", "effective", "permitted"}) {
    CHECK(process.at("capabilities").at(set) == json::array({"CAP_SYS_ADMIN", "CAP_NET_ADMIN"}));
  }
  CHECK(process.at("terminal") == false);
}

TEST_CASE("BuildRuntimeSpec: supervisor mode needs no command of its own",
          "[oci_spec][spec][supervisor]") {
  // The supervisor builder already turned the main process into
  // OPENSHELL_MAIN_PROCESS_SPEC (and reported a missing one).
  SpecFixture f;
  f.image.cmd.clear();
  f.in.supervisor = Supervisor();
  CHECK(BuildRuntimeSpec(f.in).ok());
  f.in.supervisor->args.clear();
  CHECK(!BuildRuntimeSpec(f.in).ok());
}

TEST_CASE("BuildRuntimeSpec: the rest of the spec is the same in both modes",
          "[oci_spec][spec][supervisor]") {
  SpecFixture f;
  f.in.memory_limit_bytes = 1 << 30;
  json direct = f.Build();
  f.in.supervisor = Supervisor();
  json supervised = f.Build();
  for (const char* key : {"hostname", "root", "mounts", "annotations", "linux", "ociVersion"}) {
    INFO(key);
    CHECK(direct.at(key) == supervised.at(key));
  }
}

TEST_CASE("BuildRuntimeSpec: extra mounts follow the defaults", "[oci_spec][spec][mounts]") {
  SpecFixture f;
  size_t defaults = f.Build().at("mounts").size();
  f.in.extra_mounts = {{"/host/openshell-sandbox", "/opt/openshell/bin/openshell-sandbox", true},
                       {"/host/data", "/data", false}};
  json mounts = f.Build().at("mounts");
  REQUIRE(mounts.size() == defaults + 2);
  CHECK(mounts[defaults] == json({{"destination", "/opt/openshell/bin/openshell-sandbox"},
                                  {"type", "bind"},
                                  {"source", "/host/openshell-sandbox"},
                                  {"options", {"bind", "ro"}}}));
  CHECK(mounts[defaults + 1] == json({{"destination", "/data"},
                                      {"type", "bind"},
                                      {"source", "/host/data"},
                                      {"options", {"bind"}}}));
}

TEST_CASE("BuildRuntimeSpec: a relative mount path is an error", "[oci_spec][spec][mounts]") {
  SpecFixture f;
  f.in.extra_mounts = {{"relative/source", "/dest", true}};
  CHECK(!BuildRuntimeSpec(f.in).ok());
  f.in.extra_mounts = {{"/source", "dest", true}};
  CHECK(!BuildRuntimeSpec(f.in).ok());
}

// ---- ResolveImageUser -------------------------------------------------------

struct AccountsRootfs {
  TempDir dir;
  AccountsRootfs() {
    WriteText(dir.path() + "/etc/passwd",
              "root:x:0:0:root:/root:/bin/sh\n"
              "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
              "# a comment line\n"
              "broken-line\n"
              "app:x:1000:1000:App User:/home/app:/bin/sh\n"
              "lonely:x:2000:2000::/home/lonely:/bin/sh\n");
    WriteText(dir.path() + "/etc/group",
              "root:x:0:\n"
              "daemon:x:1:\n"
              "app:x:1000:app\n"
              "docker:x:999:other,app\n"
              "staff:x:50:\n"
              "video:x:44:app\n"
              "lonely:x:2000:\n");
  }
  const std::string& path() const { return dir.path(); }
};

TEST_CASE("ResolveImageUser: empty user is root", "[oci_spec][user]") {
  AccountsRootfs root;
  auto u = ResolveImageUser("", root.path());
  REQUIRE(u.ok());
  CHECK(u->uid == 0);
  CHECK(u->gid == 0);
  CHECK(u->additional_gids.empty());
}

TEST_CASE("ResolveImageUser: a name takes uid, gid and supplementary groups from the image",
          "[oci_spec][user]") {
  AccountsRootfs root;
  auto u = ResolveImageUser("app", root.path());
  REQUIRE(u.ok());
  CHECK(u->uid == 1000);
  CHECK(u->gid == 1000);
  // docker (999) and video (44) list app; app's own primary group is not
  // repeated.
  CHECK(u->additional_gids == std::vector<uint32_t>{999, 44});
}

TEST_CASE("ResolveImageUser: a user in no extra group has none", "[oci_spec][user]") {
  AccountsRootfs root;
  auto u = ResolveImageUser("lonely", root.path());
  REQUIRE(u.ok());
  CHECK(u->uid == 2000);
  CHECK(u->gid == 2000);
  CHECK(u->additional_gids.empty());
}

TEST_CASE("ResolveImageUser: a known numeric uid takes its passwd gid", "[oci_spec][user]") {
  AccountsRootfs root;
  auto u = ResolveImageUser("1", root.path());
  REQUIRE(u.ok());
  CHECK(u->uid == 1);
  CHECK(u->gid == 1);
}

TEST_CASE("ResolveImageUser: uid:gid", "[oci_spec][user]") {
  AccountsRootfs root;
  auto u = ResolveImageUser("1000:50", root.path());
  REQUIRE(u.ok());
  CHECK(u->uid == 1000);
  CHECK(u->gid == 50);
  // An explicit group replaces the supplementary lookup (as runc does).
  CHECK(u->additional_gids.empty());
}

TEST_CASE("ResolveImageUser: name:group", "[oci_spec][user]") {
  AccountsRootfs root;
  auto u = ResolveImageUser("app:staff", root.path());
  REQUIRE(u.ok());
  CHECK(u->uid == 1000);
  CHECK(u->gid == 50);
  CHECK(u->additional_gids.empty());

  auto v = ResolveImageUser("daemon:docker", root.path());
  REQUIRE(v.ok());
  CHECK(v->uid == 1);
  CHECK(v->gid == 999);
}

TEST_CASE("ResolveImageUser: numeric ids unknown to the image are allowed",
          "[oci_spec][user]") {
  AccountsRootfs root;
  auto u = ResolveImageUser("4242", root.path());
  REQUIRE(u.ok());
  CHECK(u->uid == 4242);
  CHECK(u->gid == 0);
  CHECK(u->additional_gids.empty());

  auto v = ResolveImageUser("4242:4343", root.path());
  REQUIRE(v.ok());
  CHECK(v->uid == 4242);
  CHECK(v->gid == 4343);

  auto w = ResolveImageUser("app:4343", root.path());
  REQUIRE(w.ok());
  CHECK(w->uid == 1000);
  CHECK(w->gid == 4343);
}

TEST_CASE("ResolveImageUser: unknown names are FAILED_PRECONDITION naming them",
          "[oci_spec][user]") {
  AccountsRootfs root;
  auto u = ResolveImageUser("ghost", root.path());
  REQUIRE(!u.ok());
  CHECK(u.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(u.status().message()), Catch::Contains("ghost"));

  auto g = ResolveImageUser("app:nogroup", root.path());
  REQUIRE(!g.ok());
  CHECK(g.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(g.status().message()), Catch::Contains("nogroup"));
}

TEST_CASE("ResolveImageUser: an image without account files", "[oci_spec][user]") {
  TempDir empty;
  auto n = ResolveImageUser("123:456", empty.path());
  REQUIRE(n.ok());
  CHECK(n->uid == 123);
  CHECK(n->gid == 456);

  auto named = ResolveImageUser("app", empty.path());
  REQUIRE(!named.ok());
  CHECK(named.status().code() == absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("ResolveImageUser reads the image's files, not the host's", "[oci_spec][user]") {
  // "root" exists on every host; an image whose passwd lacks it must fail.
  TempDir dir;
  WriteText(dir.path() + "/etc/passwd", "app:x:1000:1000::/home/app:/bin/sh\n");
  WriteText(dir.path() + "/etc/group", "app:x:1000:\n");
  auto u = ResolveImageUser("root", dir.path());
  REQUIRE(!u.ok());
  CHECK(u.status().code() == absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace osgv
