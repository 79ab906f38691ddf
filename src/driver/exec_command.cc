// `openshell-driver-gvisor exec --state-dir DIR SANDBOX -- CMD...`: run a
// command inside a running sandbox with our stdio, exit with its code.
#include <unistd.h>

#include <filesystem>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "driver/cli_args.h"
#include "driver/commands.h"
#include "driver/driver_config.h"
#include "driver/driver_runtime.h"
#include "driver/stdio_passthrough.h"
#include "lifecycle/runsc/runsc.h"
#include "lifecycle/sandbox_status.h"
#include "lifecycle/state_layout.h"
#include "lifecycle/store/record_lookup.h"
#include "lifecycle/store/state_store.h"

namespace osgv {
namespace {

int Fail(const std::string& message, int code = 125) {
  std::cerr << "exec: " << message << "\n";
  return code;
}

}  // namespace

int ExecCommand(const std::vector<std::string>& argv) {
  // --tty and --no-tty are accepted for compatibility and change nothing:
  // this runsc's exec cannot allocate a pty, so CMD always gets our own
  // stdio as it is (a terminal stays a terminal).
  auto args = ParseArgs(argv, {"state-dir", "config", "timeout"}, {"tty", "no-tty"});
  if (!args.ok()) return Fail(std::string(args.status().message()), 2);
  if (args->positional.size() != 1 || !args->has_rest || args->rest.empty()) {
    return Fail("usage: exec --state-dir DIR [--timeout D] SANDBOX -- CMD...", 2);
  }
  auto config = ConfigFromArgs(*args);
  if (!config.ok()) return Fail(std::string(config.status().message()), 2);
  std::chrono::milliseconds timeout = std::chrono::hours(24);
  if (auto t = args->Get("timeout")) {
    auto d = ParseDuration(*t);
    if (!d.ok()) return Fail(absl::StrCat("--timeout: ", d.status().message()), 2);
    timeout = *d;
  }

  StateLayout layout{config->state_dir};
  if (!std::filesystem::exists(layout.database())) {
    return Fail(absl::StrCat("no driver state in ", config->state_dir, " (is --state-dir right?)"));
  }
  auto store = StateStore::Open(layout.database());
  if (!store.ok()) return Fail(std::string(store.status().message()));
  auto records = (*store)->List();
  if (!records.ok()) return Fail(std::string(records.status().message()));
  auto record = FindRecord(*records, args->positional[0]);
  if (!record.ok()) return Fail(std::string(record.status().message()));
  if (record->phase != phase::kRunning) {
    return Fail(absl::StrCat("sandbox '", args->positional[0], "' is not running (",
                             PhaseName(record->phase),
                             record->message.empty() ? "" : ": " + record->message, ")"));
  }

  ProcessRunner runner;
  Runsc runsc(&runner, RunscOptionsFor(*config, layout));
  if (auto f = runsc.Detect(); !f.ok()) return Fail(std::string(f.status().message()));

  auto result = RunAttached(&runner, runsc.ExecArgv(record->runsc_id, args->rest), timeout);
  if (!result.ok()) return Fail(std::string(result.status().message()));
  if (result->timed_out) return Fail(absl::StrCat("timed out after ", timeout.count(), "ms"), 124);
  return ExitCodeOf(*result);
}

}  // namespace osgv
