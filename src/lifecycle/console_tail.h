// The last lines a sandbox printed, for the message of a terminal status.
//
// A supervisor (or main process) that dies at start-up usually says why on
// its last lines of output; putting them into the ProcessExited message lets
// an operator see the cause from `openshell sandbox get` without host access.
#pragma once

#include <cstddef>
#include <string>

namespace osgv {

// At most `max_lines` trailing lines of the file, from its last `max_bytes`,
// joined with " | ", taking the older lines from `path`.1 when the file was
// just rotated. Control characters become spaces (the text is the
// sandbox's, and ends up in a status message and logs). "" when the file is
// missing or empty.
std::string ConsoleTail(const std::string& path, size_t max_lines = 5, size_t max_bytes = 2048);

}  // namespace osgv
