#include "temp_dir.h"
#include "lifecycle/bundle/token_file.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace osgv {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

constexpr char kToken[] = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJzYi0xIn0.c2lnbmF0dXJl";

int ModeOf(const std::string& path) {
  struct stat st;
  REQUIRE(lstat(path.c_str(), &st) == 0);
  return static_cast<int>(st.st_mode & 07777);
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST_CASE("token file: path below the sandbox dir", "[token_file]") {
  CHECK(TokenFilePath("/var/lib/x/sandboxes/osgv-1") ==
        "/var/lib/x/sandboxes/osgv-1/auth/sandbox.jwt");
}

TEST_CASE("token file: one line, 0600 in a 0700 dir, owned by us", "[token_file]") {
  TempDir tmp;
  const std::string sandbox_dir = tmp.path() + "/sandboxes/osgv-1";
  mode_t old = umask(0);  // modes must not depend on the caller's umask
  absl::Status st = WriteTokenFile(sandbox_dir, kToken);
  umask(old);
  REQUIRE(st.ok());
  const std::string path = TokenFilePath(sandbox_dir);
  CHECK(Slurp(path) == std::string(kToken) + "\n");
  CHECK(ModeOf(path) == 0600);
  CHECK(ModeOf(sandbox_dir + "/auth") == 0700);
  CHECK(ModeOf(sandbox_dir) == 0700);
  struct stat s;
  REQUIRE(stat(path.c_str(), &s) == 0);
  CHECK(s.st_uid == geteuid());  // root when the driver runs as root
  CHECK(!fs::exists(path + ".tmp"));
  CHECK(HasTokenFile(sandbox_dir));
}

TEST_CASE("token file: rewriting replaces it and tightens a loose dir", "[token_file]") {
  TempDir tmp;
  REQUIRE(WriteTokenFile(tmp.path(), "old").ok());
  chmod((tmp.path() + "/auth").c_str(), 0755);
  REQUIRE(WriteTokenFile(tmp.path(), kToken).ok());
  CHECK(Slurp(TokenFilePath(tmp.path())) == std::string(kToken) + "\n");
  CHECK(ModeOf(tmp.path() + "/auth") == 0700);
}

TEST_CASE("token file: remove is idempotent and leaves no auth dir", "[token_file]") {
  TempDir tmp;
  CHECK(RemoveTokenFile(tmp.path()).ok());  // nothing there
  REQUIRE(WriteTokenFile(tmp.path(), kToken).ok());
  std::ofstream(TokenFilePath(tmp.path()) + ".tmp") << "half";
  CHECK(RemoveTokenFile(tmp.path()).ok());
  CHECK(!HasTokenFile(tmp.path()));
  CHECK(!fs::exists(tmp.path() + "/auth"));
  CHECK(RemoveTokenFile(tmp.path()).ok());
}

TEST_CASE("token file: bad tokens are refused without echo", "[token_file]") {
  TempDir tmp;
  SECTION("empty") {
    absl::Status st = WriteTokenFile(tmp.path(), "");
    CHECK(st.code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(st.message()), Catch::StartsWith("sandbox.spec.sandbox_token: "));
  }
  SECTION("more than one line") {
    for (std::string bad : {std::string(kToken) + "\nsecond", std::string(kToken) + "\r",
                            std::string(kToken) + std::string(1, '\0') + "x"}) {
      absl::Status st = WriteTokenFile(tmp.path(), bad);
      CHECK(st.code() == absl::StatusCode::kInvalidArgument);
      CHECK(std::string(st.message()).find("eyJ") == std::string::npos);
      CHECK(st.ToString().find("c2lnbmF0dXJl") == std::string::npos);
    }
    CHECK(!HasTokenFile(tmp.path()));
  }
}

TEST_CASE("token file: an I/O error names the path, never the token", "[token_file]") {
  TempDir tmp;
  SECTION("the sandbox dir is a file") {
    const std::string sandbox_dir = tmp.path() + "/not-a-dir";
    std::ofstream(sandbox_dir) << "x";
    absl::Status st = WriteTokenFile(sandbox_dir, kToken);
    REQUIRE(!st.ok());
    CHECK(st.ToString().find(kToken) == std::string::npos);
    CHECK(st.ToString().find("c2lnbmF0dXJl") == std::string::npos);
  }
  SECTION("the temp file cannot be created") {
    REQUIRE(WriteTokenFile(tmp.path(), "old").ok());
    // A directory in the temp file's place makes open() fail, even for root.
    fs::create_directory(TokenFilePath(tmp.path()) + ".tmp");
    absl::Status st = WriteTokenFile(tmp.path(), kToken);
    REQUIRE(!st.ok());
    CHECK_THAT(std::string(st.message()), Catch::Contains("sandbox.jwt.tmp"));
    CHECK(st.ToString().find(kToken) == std::string::npos);
    CHECK(st.ToString().find("c2lnbmF0dXJl") == std::string::npos);
    CHECK(Slurp(TokenFilePath(tmp.path())) == "old\n");  // the old file is intact
  }
}

}  // namespace
}  // namespace osgv
