// Running a command (a `runsc exec`) with this process's own stdin, stdout
// and stderr, as `exec` and `run` do.
//
// runsc writes to a regular-file stdout at its own offset from 0 (runsc.md
// §2), which would clobber `exec ... > file` output. Regular files are
// therefore fed through a pipe that we copy at our own offset; ttys and
// pipes are handed to runsc as they are.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "lifecycle/runsc/command_runner.h"

namespace osgv {

// Runs argv through `runner` on fds 0, 1 and 2, in our process group (so a
// terminal's Ctrl-C reaches it), bounded by `timeout`.
absl::StatusOr<CommandResult> RunAttached(CommandRunner* runner, std::vector<std::string> argv,
                                          std::chrono::milliseconds timeout);

// The shell convention: the exit code, or 128+N when killed by signal N.
int ExitCodeOf(const CommandResult& result);

}  // namespace osgv
