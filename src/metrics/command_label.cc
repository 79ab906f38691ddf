#include "metrics/command_label.h"

#include <algorithm>
#include <initializer_list>
#include <string_view>

namespace osgv {
namespace {

bool IsFlag(const std::string& arg) { return !arg.empty() && arg[0] == '-'; }

bool OneOf(const std::string& word, std::initializer_list<std::string_view> allowed) {
  return std::find(allowed.begin(), allowed.end(), word) != allowed.end();
}

// The first word after the program that is not a flag; flags in `with_value`
// take the next word as their value ("ip -n <netns> link ...").
std::string FirstWord(const std::vector<std::string>& argv,
                      std::initializer_list<std::string_view> with_value = {}) {
  for (size_t i = 1; i < argv.size(); ++i) {
    if (!IsFlag(argv[i])) return argv[i];
    if (OneOf(argv[i], with_value)) ++i;
  }
  return "";
}

std::string Label(const std::string& tool, const std::string& word,
                  std::initializer_list<std::string_view> allowed) {
  return tool + " " + (OneOf(word, allowed) ? word : "other");
}

}  // namespace

std::string CommandLabel(const std::vector<std::string>& argv) {
  if (argv.empty()) return "other";
  const std::string& program = argv[0];
  const std::string tool = program.substr(program.rfind('/') + 1);
  if (tool == "runsc") {
    // Its global flags are all --name=value. Feature detection asks
    // `runsc --version`, a call of flags only.
    std::string word = FirstWord(argv);
    if (word.empty() && argv.size() > 1 && argv[1] == "--version") return "runsc --version";
    return Label(tool, word,
                 {"create", "start", "run", "restore", "checkpoint", "delete", "kill", "state",
                  "list", "exec", "ps", "events", "wait", "pause", "resume", "flags", "help"});
  }
  if (tool == "skopeo") {
    return Label(tool, FirstWord(argv), {"copy", "inspect", "list-tags", "delete", "sync"});
  }
  if (tool == "ip") {
    return Label(tool, FirstWord(argv, {"-n", "-netns", "-b", "-batch"}),
                 {"link", "addr", "address", "route", "netns", "neigh", "rule"});
  }
  if (tool == "nft") {
    // The driver loads whole rulesets from a file (`nft -f <path>`).
    if (std::find(argv.begin() + 1, argv.end(), "-f") != argv.end()) return "nft -f";
    return Label(tool, FirstWord(argv), {"list", "add", "delete", "flush", "insert", "replace"});
  }
  return "other";
}

}  // namespace osgv
