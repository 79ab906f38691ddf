#include "lifecycle/console_tail.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "lifecycle/monitor/console_log.h"
#include "unit/temp_dir.h"

namespace osgv {
namespace {

std::string Write(const testing::TempDir& dir, const std::string& text) {
  std::string path = dir.path() + "/console.log";
  std::ofstream(path, std::ios::trunc) << text;
  return path;
}

TEST_CASE("ConsoleTail keeps the last lines and joins them", "[console_tail]") {
  testing::TempDir dir;
  CHECK(ConsoleTail(dir.path() + "/missing") == "");
  CHECK(ConsoleTail(Write(dir, "")) == "");
  CHECK(ConsoleTail(Write(dir, "one\ntwo\n\nthree\n")) == "one | two | three");
  CHECK(ConsoleTail(Write(dir, "1\n2\n3\n4\n5\n6\n7\n"), 3) == "5 | 6 | 7");
}

TEST_CASE("ConsoleTail reads only the end of a big file and drops the cut line", "[console_tail]") {
  testing::TempDir dir;
  std::string big(100000, 'x');
  std::string path = Write(dir, big + "\nlast words\n");
  CHECK(ConsoleTail(path, 5, 64) == "last words");
}

TEST_CASE("ConsoleTail turns control characters into spaces", "[console_tail]") {
  testing::TempDir dir;
  CHECK(ConsoleTail(Write(dir, "\x1b[31mred\x1b[0m\r\nbell\a\n")) == "[31mred [0m | bell");
}

TEST_CASE("ConsoleTail takes the older lines from a just-rotated log", "[console_tail]") {
  testing::TempDir dir;
  std::string path = Write(dir, "last\n");
  std::ofstream(path + ".1") << "a\nb\nc\nd\n";
  CHECK(ConsoleTail(path, 3) == "c | d | last");
  CHECK(ConsoleTail(path, 1) == "last");
}

TEST_CASE("ConsoleLog rotates past its bound and keeps one older file", "[console_tail][monitor]") {
  testing::TempDir dir;
  const std::string path = dir.path() + "/console.log";
  std::ofstream(path) << "from before a restart\n";  // appended to, counted
  {
    ConsoleLog log(path, 64);
    REQUIRE(log.Open());
    std::string line(30, 'x');
    line += "\n";  // 31 bytes
    log.Write(line.data(), line.size());  // 22 + 31 = 53: fits
    CHECK_FALSE(std::filesystem::exists(ConsoleLog::RotatedPath(path)));
    log.Write("second\n", 7);  // 60: fits
    log.Write("third\n", 6);   // 66 > 64: rotate first
    CHECK(std::filesystem::file_size(ConsoleLog::RotatedPath(path)) == 60);
    CHECK(std::filesystem::file_size(path) == 6);
    for (int i = 0; i < 40; ++i) log.Write("0123456789\n", 11);
  }
  // Never more than about twice the bound on disk, the newest output kept.
  CHECK(std::filesystem::file_size(path) <= 64);
  CHECK(std::filesystem::file_size(ConsoleLog::RotatedPath(path)) <= 64);
  CHECK(ConsoleTail(path, 1) == "0123456789");
}

TEST_CASE("ConsoleLog without a bound never rotates", "[console_tail][monitor]") {
  testing::TempDir dir;
  const std::string path = dir.path() + "/console.log";
  ConsoleLog log(path, 0);
  REQUIRE(log.Open());
  std::string chunk(4096, 'y');
  for (int i = 0; i < 64; ++i) log.Write(chunk.data(), chunk.size());
  CHECK(std::filesystem::file_size(path) == 64u * 4096);
  CHECK_FALSE(std::filesystem::exists(ConsoleLog::RotatedPath(path)));
}

}  // namespace
}  // namespace osgv
