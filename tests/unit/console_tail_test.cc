#include "lifecycle/console_tail.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <string>

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

}  // namespace
}  // namespace osgv
