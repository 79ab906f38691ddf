#include "cli/command_errors.h"

#include <catch2/catch.hpp>
#include <iostream>
#include <sstream>
#include <string>

namespace osgv {
namespace {

// What `call` writes to std::cerr, and what it returns.
template <typename F>
std::pair<std::string, int> Captured(F call) {
  std::ostringstream out;
  std::streambuf* saved = std::cerr.rdbuf(out.rdbuf());
  int code = call();
  std::cerr.rdbuf(saved);
  return {out.str(), code};
}

TEST_CASE("a command error names the command", "[command_errors]") {
  auto [text, code] = Captured([] { return CommandError("run", "cannot boot"); });
  CHECK(text == "run: cannot boot\n");
  CHECK(code == kExitCannotRun);
  CHECK(Captured([] { return CommandError("exec", "timed out", 124); }).second == 124);
}

TEST_CASE("a usage error ends with the usage, on a line of its own", "[command_errors]") {
  auto [text, code] = Captured([] { return UsageError("images", "needs a subcommand", "usage: images"); });
  CHECK(text == "images: needs a subcommand\nusage: images\n");
  CHECK(code == kExitUsage);
  // A usage text that already ends its line gets no blank line after it.
  CHECK(Captured([] { return UsageError("ctl", "no command", "usage: ctl\n"); }).first ==
        "ctl: no command\nusage: ctl\n");
}

TEST_CASE("a failed operation prints the status code's name", "[command_errors]") {
  auto [text, code] = Captured(
      [] { return CommandFailed("GetSandbox", absl::NotFoundError("sandbox 'x' not found")); });
  CHECK(text == "GetSandbox failed: NOT_FOUND: sandbox 'x' not found\n");
  CHECK(code == 1);
}

}  // namespace
}  // namespace osgv
