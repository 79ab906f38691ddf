#include "lifecycle/bundle/supervisor_needs.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "capabilities/config.h"
#include "lifecycle/bundle/supervisor_spec.h"
#include "temp_dir.h"

namespace osgv {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

// An executable file in the image root with some content.
void Tool(const std::string& root, const std::string& path, const std::string& content = "tool") {
  REQUIRE_FALSE(fs::is_symlink(root + path));  // never write through a link to the host
  fs::create_directories(fs::path(root + path).parent_path());
  std::ofstream(root + path) << content;
  chmod((root + path).c_str(), 0755);
}

// A Debian-like image root: /bin -> usr/bin, bash, iproute2's ip, nsenter.
std::string DebianRoot(const TempDir& dir) {
  std::string root = dir.Dir("rootfs");
  fs::create_directories(root + "/usr/bin");
  fs::create_directory_symlink("usr/bin", root + "/bin");
  Tool(root, "/usr/bin/bash");
  Tool(root, "/usr/bin/ip", "iproute2 ip netns");
  Tool(root, "/usr/bin/nsenter");
  return root;
}

absl::Status Check(const std::string& root, const std::string& program = "/bin/bash") {
  return CheckImageForSupervisor(root, "oci:/img:v1", program);
}

TEST_CASE("supervisor needs: a Debian-like image has bash, ip and nsenter", "[supervisor]") {
  TempDir dir;
  std::string root = DebianRoot(dir);
  CHECK(Check(root).ok());
  CHECK(Check(root, "bash").ok());  // not absolute: the supervisor's PATH lookup, not ours
}

TEST_CASE("supervisor needs: a missing main program is named", "[supervisor]") {
  TempDir dir;
  std::string root = DebianRoot(dir);
  fs::remove(root + "/usr/bin/bash");
  auto st = Check(root);
  CHECK(st.code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(st.message()),
             Catch::StartsWith("sandbox.spec.template.image: image 'oci:/img:v1' has no "
                               "executable /bin/bash"));
  // Not executable counts as missing.
  Tool(root, "/usr/bin/bash");
  chmod((root + "/usr/bin/bash").c_str(), 0644);
  CHECK(Check(root).code() == absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("supervisor needs: BusyBox's ip is refused, naming iproute2", "[supervisor]") {
  TempDir dir;
  std::string root = DebianRoot(dir);
  fs::remove(root + "/usr/bin/ip");
  Tool(root, "/usr/bin/busybox", std::string(100000, 'x') + "BusyBox v1.35.0 (Debian)");
  fs::create_symlink("busybox", root + "/usr/bin/ip");
  auto st = Check(root);
  CHECK(st.code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(st.message()), Catch::Contains("BusyBox's ip at /usr/sbin/ip") ||
                                            Catch::Contains("BusyBox's ip at /usr/bin/ip"));
  CHECK_THAT(std::string(st.message()), Catch::Contains("iproute2"));
}

TEST_CASE("supervisor needs: no ip, no nsenter", "[supervisor]") {
  TempDir dir;
  std::string root = DebianRoot(dir);
  fs::remove(root + "/usr/bin/nsenter");
  auto st = Check(root);
  CHECK(st.code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(st.message()), Catch::Contains("has no nsenter (util-linux)"));
  fs::remove(root + "/usr/bin/ip");
  st = Check(root);
  CHECK_THAT(std::string(st.message()), Catch::Contains("has no ip (iproute2) at any of "
                                                        "/usr/sbin/ip, /sbin/ip"));
}

TEST_CASE("supervisor needs: links resolve inside the image, never on the host",
          "[supervisor]") {
  TempDir dir;
  std::string root = DebianRoot(dir);
  // The host has /bin/bash and /usr/bin/nsenter; the image's links to them
  // must not find the host's files.
  fs::remove(root + "/usr/bin/bash");
  fs::create_symlink("/../../../../../../bin/bash", root + "/usr/bin/bash");
  CHECK(Check(root).code() == absl::StatusCode::kFailedPrecondition);
  fs::remove(root + "/usr/bin/bash");  // first: writing through the link would hit the host's
  Tool(root, "/usr/bin/bash");
  fs::remove(root + "/usr/bin/nsenter");
  fs::create_symlink("/proc/self/root/usr/bin/nsenter", root + "/usr/bin/nsenter");
  CHECK(Check(root).code() == absl::StatusCode::kFailedPrecondition);
  // An absolute link within the image is followed there.
  fs::remove(root + "/usr/bin/nsenter");
  Tool(root, "/usr/sbin/nsenter.real");
  fs::create_symlink("/usr/sbin/nsenter.real", root + "/usr/bin/nsenter");
  CHECK(Check(root).ok());
}

TEST_CASE("supervisor needs: a FIFO at ip's path does not block the check", "[supervisor]") {
  TempDir dir;
  std::string root = DebianRoot(dir);
  fs::create_directories(root + "/usr/sbin");
  REQUIRE(mkfifo((root + "/usr/sbin/ip").c_str(), 0755) == 0);
  CHECK(Check(root).ok());  // skipped, /usr/bin/ip found after it
}

TEST_CASE("supervisor needs: the ELF program interpreter", "[supervisor]") {
  auto dynamic = ElfInterpreter("/bin/sh");  // dash: dynamically linked on Debian
  REQUIRE(dynamic.ok());
  CHECK_THAT(*dynamic, Catch::StartsWith("/lib"));
  if (fs::exists("/bin/busybox")) {  // busybox-static (scripts/install-deps.sh)
    auto none = ElfInterpreter("/bin/busybox");
    REQUIRE(none.ok());
    CHECK(none->empty());
  }
  TempDir dir;
  std::ofstream(dir / "text") << "not an executable";
  CHECK(ElfInterpreter(dir / "text").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(ElfInterpreter(dir / "absent").status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("supervisor needs: a dynamically linked supervisor binary is refused", "[supervisor]") {
  Config config;
  config.gateway.endpoint = "http://10.89.0.1:8080";
  config.supervisor.binary = "/bin/sh";
  auto st = CheckSupervisorHostFiles(config);
  CHECK(st.code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(st.message()), Catch::StartsWith("supervisor.binary: '/bin/sh' is "
                                                          "dynamically linked"));
  CHECK_THAT(std::string(st.message()), Catch::Contains("static"));
  TempDir dir;
  config.supervisor.binary = dir / "data";
  std::ofstream(config.supervisor.binary) << "\x7f" "ELX nonsense";
  CHECK(CheckSupervisorHostFiles(config).code() == absl::StatusCode::kFailedPrecondition);
  if (fs::exists("/bin/busybox")) {
    config.supervisor.binary = "/bin/busybox";
    CHECK(CheckSupervisorHostFiles(config).ok());
  }
}

}  // namespace
}  // namespace osgv
