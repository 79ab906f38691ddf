// How a subcommand says it could not do its work: one message on stderr
// that starts with the command's name, and an exit code. Every command
// reports this way, so operators and scripts read one format.
#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace osgv {

// Exit codes of our own, as `docker run` and `podman exec` use them; any
// other code a command returns is its workload's.
inline constexpr int kExitUsage = 2;
inline constexpr int kExitCannotRun = 125;

// "<command>: <message>"; returns `code`.
int CommandError(absl::string_view command, absl::string_view message, int code = kExitCannotRun);
// "<command>: <problem>", then the usage text; returns kExitUsage.
int UsageError(absl::string_view command, absl::string_view problem, absl::string_view usage);
// "<what> failed: <CODE>: <message>", CODE the canonical name
// (INVALID_ARGUMENT, NOT_FOUND...); returns 1.
int CommandFailed(absl::string_view what, const absl::Status& status);

}  // namespace osgv
