// BindDriverSocket: the socket's mode is right from the first moment it is
// reachable, without touching the process-wide umask.
#include "driver/socket_server.h"

#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "unit/temp_dir.h"

namespace osgv {
namespace {

using testing::TempDir;

// The umask, read from /proc (umask(2) can only read it by changing it).
std::string CurrentUmask() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("Umask:", 0) == 0) return line;
  }
  return "";
}

TEST_CASE("the driver socket is bound with its mode, leaving nothing behind", "[socket]") {
  TempDir tmp;
  SocketConfig c;
  c.path = tmp / "run/driver.sock";
  const std::string umask_before = CurrentUmask();
  REQUIRE_FALSE(umask_before.empty());
  auto fd = BindDriverSocket(c);
  REQUIRE(fd.ok());
  CHECK(CurrentUmask() == umask_before);
  struct stat st;
  REQUIRE(lstat(c.path.c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 07777) == 0600);
  // The private directory it was bound in is gone.
  for (const auto& entry : std::filesystem::directory_iterator(tmp / "run")) {
    CHECK(entry.path().filename() == "driver.sock");
  }
  // It answers at its final path; a second driver is refused.
  auto again = BindDriverSocket(c);
  REQUIRE_FALSE(again.ok());
  CHECK(again.status().code() == absl::StatusCode::kAlreadyExists);
  close(*fd);
}

TEST_CASE("a wider socket mode is applied before the socket is reachable", "[socket]") {
  TempDir tmp;
  SocketConfig c;
  c.path = tmp / "driver.sock";
  c.mode = 0660;
  auto fd = BindDriverSocket(c);
  REQUIRE(fd.ok());
  struct stat st;
  REQUIRE(lstat(c.path.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0660);
  close(*fd);
}

}  // namespace
}  // namespace osgv
