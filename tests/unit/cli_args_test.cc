#include "cli/cli_args.h"

#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <vector>

namespace osgv {
namespace {

using Args = std::vector<std::string>;

const std::set<std::string> kValues = {"config", "state-dir", "label", "timeout"};
const std::set<std::string> kBools = {"verbose", "tty", "json"};

ParsedArgs MustParse(const Args& args) {
  auto p = ParseArgs(args, kValues, kBools);
  INFO(p.status());
  REQUIRE(p.ok());
  return *p;
}

TEST_CASE("nothing to parse", "[cli_args]") {
  ParsedArgs p = MustParse({});
  CHECK(p.values.empty());
  CHECK(p.switches.empty());
  CHECK(p.positional.empty());
  CHECK(p.rest.empty());
  CHECK_FALSE(p.has_rest);
  CHECK_FALSE(p.Get("config").has_value());
  CHECK(p.GetAll("label").empty());
  CHECK_FALSE(p.Has("verbose"));
}

TEST_CASE("value flags in both forms", "[cli_args]") {
  ParsedArgs p = MustParse({"--config", "/etc/a.yaml", "--state-dir=/var/lib/x"});
  CHECK(p.Get("config") == std::optional<std::string>("/etc/a.yaml"));
  CHECK(p.Get("state-dir") == std::optional<std::string>("/var/lib/x"));
  CHECK(p.positional.empty());
}

TEST_CASE("an inline value keeps everything after the first '='", "[cli_args]") {
  ParsedArgs p = MustParse({"--label=a=b=c", "--config="});
  CHECK(p.Get("label") == std::optional<std::string>("a=b=c"));
  CHECK(p.Get("config") == std::optional<std::string>(""));
}

TEST_CASE("a separate value is taken verbatim, even if it looks like a flag", "[cli_args]") {
  ParsedArgs p = MustParse({"--config", "--verbose"});
  CHECK(p.Get("config") == std::optional<std::string>("--verbose"));
  CHECK_FALSE(p.Has("verbose"));
}

TEST_CASE("repeated value flags: GetAll keeps all, Get the last", "[cli_args]") {
  ParsedArgs p = MustParse({"--label", "a=1", "--label=b=2", "pos", "--label", "c=3"});
  CHECK(p.GetAll("label") == Args{"a=1", "b=2", "c=3"});
  CHECK(p.Get("label") == std::optional<std::string>("c=3"));
  CHECK(p.positional == Args{"pos"});
  CHECK(p.GetAll("config").empty());
}

TEST_CASE("switches", "[cli_args]") {
  ParsedArgs p = MustParse({"--verbose", "--tty", "--verbose"});
  CHECK(p.Has("verbose"));
  CHECK(p.Has("tty"));
  CHECK_FALSE(p.Has("json"));
  CHECK(p.values.empty());
  // A switch is not a value flag.
  CHECK_FALSE(p.Get("verbose").has_value());
}

TEST_CASE("a switch with a value is an error", "[cli_args]") {
  auto p = ParseArgs({"--tty=yes"}, kValues, kBools);
  REQUIRE(!p.ok());
  CHECK(p.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(p.status().message()), Catch::Contains("--tty"));
}

TEST_CASE("an unknown flag is an error naming it", "[cli_args]") {
  for (const Args& args : {Args{"--bogus"}, Args{"--bogus=1"}, Args{"pos", "--bogus", "x"}}) {
    auto p = ParseArgs(args, kValues, kBools);
    REQUIRE(!p.ok());
    CHECK(p.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(p.status().message()), Catch::Contains("--bogus"));
  }
}

TEST_CASE("a value flag at the end without a value is an error", "[cli_args]") {
  auto p = ParseArgs({"--verbose", "--config"}, kValues, kBools);
  REQUIRE(!p.ok());
  CHECK(p.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(p.status().message()), Catch::Contains("--config"));
  CHECK_THAT(std::string(p.status().message()), Catch::Contains("value"));
}

TEST_CASE("everything after -- is kept verbatim", "[cli_args]") {
  ParsedArgs p = MustParse({"--tty", "sandbox-1", "--", "sh", "-c", "--config", "--bogus", "--"});
  CHECK(p.has_rest);
  CHECK(p.rest == Args{"sh", "-c", "--config", "--bogus", "--"});
  CHECK(p.positional == Args{"sandbox-1"});
  CHECK(p.Has("tty"));
  CHECK_FALSE(p.Get("config").has_value());
}

TEST_CASE("a bare -- with nothing after it", "[cli_args]") {
  ParsedArgs p = MustParse({"x", "--"});
  CHECK(p.has_rest);
  CHECK(p.rest.empty());
  CHECK(p.positional == Args{"x"});
}

TEST_CASE("positional arguments keep their order", "[cli_args]") {
  ParsedArgs p = MustParse({"serve", "--json", "one", "-", "-x", "two"});
  // "-" and single-dash words are not "--" flags.
  CHECK(p.positional == Args{"serve", "one", "-", "-x", "two"});
  CHECK(p.Has("json"));
  CHECK_FALSE(p.has_rest);
}

TEST_CASE("a flag's value is not positional", "[cli_args]") {
  ParsedArgs p = MustParse({"--timeout", "30s", "cmd"});
  CHECK(p.Get("timeout") == std::optional<std::string>("30s"));
  CHECK(p.positional == Args{"cmd"});
}

TEST_CASE("help is asked for only by a leading --help or -h", "[cli_args]") {
  CHECK(AsksForHelp({"--help"}));
  CHECK(AsksForHelp({"-h", "--json"}));
  CHECK_FALSE(AsksForHelp({}));
  CHECK_FALSE(AsksForHelp({"--", "--help"}));  // a command's own flag
  CHECK_FALSE(AsksForHelp({"--image", "x", "--help"}));
}

}  // namespace
}  // namespace osgv
