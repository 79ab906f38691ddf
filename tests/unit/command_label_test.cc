// The `command` label of tool calls: tool and subcommand, never an argument.
#include "metrics/command_label.h"

#include <catch2/catch.hpp>

namespace osgv {
namespace {

TEST_CASE("CommandLabel names the tool and subcommand and nothing else", "[metrics]") {
  struct Case {
    std::vector<std::string> argv;
    std::string label;
  };
  const Case cases[] = {
      {{"/usr/bin/runsc", "--root=/var/lib/x/runsc", "--platform=systrap", "--network=none",
        "checkpoint", "--image-path=/x/tmp-1", "osgv-abc"},
       "runsc checkpoint"},
      {{"/usr/bin/runsc", "--root=/r", "--debug", "--debug-log=/l/", "state", "osgv-abc"},
       "runsc state"},
      {{"/usr/bin/runsc", "--version"}, "runsc --version"},
      {{"/usr/bin/runsc", "flags"}, "runsc flags"},
      // An id where a subcommand should be is not let through.
      {{"/usr/bin/runsc", "--root=/r", "osgv-secret-id"}, "runsc other"},
      {{"/usr/bin/runsc", "--root=/r"}, "runsc other"},
      {{"/usr/bin/skopeo", "--policy=/p.json", "copy", "--authfile=/a", "docker://r/i:t",
        "oci:/l:n"},
       "skopeo copy"},
      {{"/usr/bin/skopeo", "inspect", "--raw", "docker://r/i"}, "skopeo inspect"},
      {{"/usr/sbin/ip", "-n", "osgv-abc", "addr", "replace", "10.89.0.2/16", "dev", "eth0"},
       "ip addr"},
      {{"/usr/sbin/ip", "-j", "link", "show", "dev", "osgv0"}, "ip link"},
      {{"/usr/sbin/ip", "netns", "del", "osgv-abc"}, "ip netns"},
      {{"/usr/sbin/ip", "-n", "link"}, "ip other"},  // "link" is -n's value here
      {{"/usr/sbin/nft", "-f", "/var/lib/x/network/ruleset.nft"}, "nft -f"},
      {{"/usr/sbin/nft", "list", "ruleset"}, "nft list"},
      {{"/usr/sbin/nft", "/tmp/evil"}, "nft other"},
      {{"/bin/sh", "-c", "anything"}, "other"},
      {{"runsc-but-not", "state"}, "other"},
      {{}, "other"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.argv);
    CHECK(CommandLabel(c.argv) == c.label);
  }
}

}  // namespace
}  // namespace osgv
