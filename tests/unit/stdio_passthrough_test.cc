// RunAttached: a regular-file stdin goes through a pipe and a pump thread,
// which must end with the command even when the command never reads it.
#include "cli/stdio_passthrough.h"

#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <string>

#include "temp_dir.h"

namespace osgv {
namespace {

using testing::TempDir;

// Points this process's stdin at `path` for its lifetime.
class StdinFrom {
 public:
  explicit StdinFrom(const std::string& path) : saved_(dup(0)) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    REQUIRE(dup2(fd, 0) == 0);
    close(fd);
  }
  ~StdinFrom() {
    dup2(saved_, 0);
    close(saved_);
  }

 private:
  int saved_;
};

TEST_CASE("RunAttached: a command that ignores a large stdin file returns, pump joined",
          "[passthrough]") {
  TempDir dir;
  const std::string input = dir / "input";
  // Far more than a pipe holds (64 KiB), so the pump is left waiting.
  std::ofstream(input) << std::string(4 << 20, 'x');
  StdinFrom stdin_file(input);
  ProcessRunner runner;
  auto r = RunAttached(&runner, {"true"}, std::chrono::seconds(30));
  REQUIRE(r.ok());
  CHECK(r->ok());
}

TEST_CASE("RunAttached: a command reads its regular-file stdin whole", "[passthrough]") {
  TempDir dir;
  const std::string input = dir / "input";
  const std::string content(1 << 20, 'y');
  std::ofstream(input) << content;
  StdinFrom stdin_file(input);
  ProcessRunner runner;
  // Counts what it read; its stdout (ours) is not needed for the check.
  auto r = RunAttached(&runner, {"sh", "-c", "test \"$(wc -c)\" -eq 1048576"},
                       std::chrono::seconds(30));
  REQUIRE(r.ok());
  CHECK(r->exit_code == 0);
}

}  // namespace
}  // namespace osgv
