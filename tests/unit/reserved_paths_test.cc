#include "lifecycle/bundle/reserved_paths.h"

#include <catch2/catch.hpp>
#include <string>

namespace osgv {
namespace {

absl::Status Check(const std::string& path) { return CheckNotReserved("mounts[0].target", path); }

TEST_CASE("reserved paths: upstream's seven roots", "[reserved_paths]") {
  CHECK(ReservedSandboxPaths() ==
        std::vector<std::string>{"/opt/openshell", "/etc/openshell", "/etc/openshell-tls",
                                 "/run/openshell", "/run/openshell-sidecar", "/run/netns",
                                 "/var/run/netns"});
}

TEST_CASE("reserved paths: the fixed driver paths lie below a root", "[reserved_paths]") {
  for (const char* path : {kSupervisorBinaryPath, kSandboxTokenPath, kTlsCaPath, kTlsCertPath,
                           kTlsKeyPath, kSshSocketPath}) {
    INFO(path);
    CHECK(!Check(path).ok());
  }
}

TEST_CASE("reserved paths: equal, under and above are rejected", "[reserved_paths]") {
  for (const char* path : {
           // equal
           "/opt/openshell", "/etc/openshell", "/etc/openshell-tls", "/run/openshell",
           "/run/openshell-sidecar", "/run/netns", "/var/run/netns",
           // equal with a trailing slash
           "/etc/openshell/",
           // under
           "/opt/openshell/bin", "/etc/openshell/auth/sandbox.jwt", "/run/netns/sandbox-1",
           "/etc/openshell-tls/client/ca.crt",
           // above
           "/", "/opt", "/etc", "/run", "/var", "/var/run",
           // /var/run is usually a symlink to /run
           "/var/run/openshell", "/var/run/openshell/ssh.sock", "/var/run/openshell-sidecar",
       }) {
    INFO(path);
    absl::Status st = Check(path);
    CHECK(st.code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(st.message()), Catch::StartsWith("mounts[0].target: "));
    CHECK_THAT(std::string(st.message()), Catch::Contains("reserved OpenShell path"));
  }
}

TEST_CASE("reserved paths: neighbours are fine", "[reserved_paths]") {
  for (const char* path : {"/sandbox", "/opt/openshellx", "/opt/open", "/etc/openshell-tlsx",
                           "/etc/openshel", "/run/openshell2", "/run/user/1000", "/var/lib",
                           "/var/runner", "/home/app/.openshell", "/srv/etc/openshell",
                           "/opt/other/openshell"}) {
    INFO(path);
    CHECK(Check(path).ok());
  }
}

TEST_CASE("reserved paths: the message names the field and the root", "[reserved_paths]") {
  absl::Status st = CheckNotReserved("supervisor.workdir", "/etc");
  CHECK(std::string(st.message()) ==
        "supervisor.workdir: '/etc' overlaps the reserved OpenShell path '/etc/openshell'");
}

TEST_CASE("reserved paths: relative or unnormalized paths are rejected", "[reserved_paths]") {
  for (const char* path : {"", "etc/openshell", "./sandbox", "/opt//openshell", "/opt/./openshell",
                           "/opt/x/../openshell", "/sandbox/..", "/a//"}) {
    INFO(path);
    absl::Status st = Check(path);
    CHECK(st.code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(st.message()), Catch::StartsWith("mounts[0].target: "));
  }
}

TEST_CASE("reserved paths: hostile text is quoted and bounded", "[reserved_paths]") {
  std::string path = "rel\n" + std::string(500, 'x');
  std::string message(Check(path).message());
  CHECK(message.find('\n') == std::string::npos);
  CHECK(message.size() < 200);
}

}  // namespace
}  // namespace osgv
