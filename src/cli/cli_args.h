// A small command-line parser: `--flag value`, `--flag=value`, boolean
// `--flag`, positional arguments, and everything after `--` kept verbatim.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace osgv {

struct ParsedArgs {
  std::map<std::string, std::string> values;  // flag -> value (last wins)
  std::map<std::string, std::vector<std::string>> all_values;  // every occurrence
  std::set<std::string> switches;             // boolean flags present
  std::vector<std::string> positional;
  std::vector<std::string> rest;              // after "--"
  bool has_rest = false;

  std::optional<std::string> Get(const std::string& flag) const;
  bool Has(const std::string& flag) const { return switches.count(flag) > 0; }
  std::vector<std::string> GetAll(const std::string& flag) const;
};

// `value_flags` take a value, `bool_flags` do not; anything else starting
// with "--" is an error naming it.
absl::StatusOr<ParsedArgs> ParseArgs(const std::vector<std::string>& args,
                                     const std::set<std::string>& value_flags,
                                     const std::set<std::string>& bool_flags);

// A command's arguments begin with --help or -h: print its usage, exit 0.
bool AsksForHelp(const std::vector<std::string>& args);

}  // namespace osgv
