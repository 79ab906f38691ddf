// `openshell-driver-gvisor exec --state-dir DIR SANDBOX -- CMD...`: run a
// command inside a running sandbox with our stdio, exit with its code.
#include <unistd.h>

#include <filesystem>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "cli/cli_args.h"
#include "cli/command_errors.h"
#include "cli/commands.h"
#include "cli/driver_config.h"
#include "cli/driver_runtime.h"
#include "cli/stdio_passthrough.h"
#include "lifecycle/runsc/runsc.h"
#include "lifecycle/sandbox_status.h"
#include "lifecycle/state_layout.h"
#include "lifecycle/store/record_lookup.h"
#include "lifecycle/store/state_store.h"

namespace osgv {
namespace {

int Fail(absl::string_view message, int code = kExitCannotRun) {
  return CommandError("exec", message, code);
}

}  // namespace

constexpr char kExecUsage[] = "usage: exec --state-dir DIR [--config FILE] [--timeout D] SANDBOX -- CMD...";

int ExecCommand(const std::vector<std::string>& argv) {
  if (AsksForHelp(argv)) {
    std::cout << kExecUsage << "\n"
              << "Runs CMD in the running sandbox SANDBOX (its id, or a name only one sandbox has)\n"
              << "with this terminal's stdio; exits with CMD's code (docs/operations.md).\n";
    return 0;
  }
  // --tty and --no-tty are accepted for compatibility and change nothing:
  // this runsc's exec cannot allocate a pty, so CMD always gets our own
  // stdio as it is (a terminal stays a terminal).
  auto args = ParseArgs(argv, {"state-dir", "config", "timeout"}, {"tty", "no-tty"});
  if (!args.ok()) return Fail(args.status().message(), kExitUsage);
  if (args->positional.size() != 1 || !args->has_rest || args->rest.empty()) {
    return Fail(kExecUsage, kExitUsage);
  }
  auto config = ConfigFromArgs(*args);
  if (!config.ok()) return Fail(config.status().message(), kExitUsage);
  std::chrono::milliseconds timeout = std::chrono::hours(24);
  if (auto t = args->Get("timeout")) {
    auto d = ParseDuration(*t);
    if (!d.ok()) return Fail(absl::StrCat("--timeout: ", d.status().message()), kExitUsage);
    timeout = *d;
  }

  StateLayout layout{config->state_dir};
  if (!std::filesystem::exists(layout.database())) {
    return Fail(absl::StrCat("no driver state in ", config->state_dir, " (is --state-dir right?)"));
  }
  auto store = StateStore::Open(layout.database());
  if (!store.ok()) return Fail(store.status().message());
  auto records = (*store)->List();
  if (!records.ok()) return Fail(records.status().message());
  auto record = FindRecord(*records, args->positional[0]);
  if (!record.ok()) return Fail(record.status().message());
  if (record->phase != phase::kRunning) {
    return Fail(absl::StrCat("sandbox '", args->positional[0], "' is not running (",
                             PhaseName(record->phase),
                             record->message.empty() ? "" : ": " + record->message, ")"));
  }

  ProcessRunner runner;
  Runsc runsc(&runner, RunscOptionsFor(*config, layout));
  if (auto f = runsc.Detect(); !f.ok()) return Fail(f.status().message());

  auto result = RunAttached(&runner, runsc.ExecArgv(record->runsc_id, args->rest), timeout);
  if (!result.ok()) return Fail(result.status().message());
  if (result->timed_out) return Fail(absl::StrCat("timed out after ", timeout.count(), "ms"), 124);
  return ExitCodeOf(*result);
}

}  // namespace osgv
