// The `command` label of a tool call: the tool and its subcommand
// ("runsc checkpoint", "skopeo copy", "ip link", "nft -f"), never an
// argument. Only names from fixed lists get through, so the label's values
// stay a small, known set whatever argv holds (ids and paths never do).
#pragma once

#include <string>
#include <vector>

namespace osgv {

// "<tool> <subcommand>"; "<tool> other" for a subcommand not on the tool's
// list, "other" for a program that is none of runsc, skopeo, ip and nft.
std::string CommandLabel(const std::vector<std::string>& argv);

}  // namespace osgv
