// `openshell-driver-gvisor monitor`: internal; started by the driver, one per
// sandbox. Not for operators.
#include <iostream>

#include "absl/strings/numbers.h"
#include "cli/cli_args.h"
#include "cli/commands.h"
#include "lifecycle/monitor/monitor.h"

namespace osgv {

int MonitorCommand(const std::vector<std::string>& argv) {
  auto args = ParseArgs(argv, {"status-fd", "go-fd"}, {});
  int status_fd = -1;
  int go_fd = -1;
  if (!args.ok() || !args->Get("status-fd") || !args->Get("go-fd") ||
      !absl::SimpleAtoi(*args->Get("status-fd"), &status_fd) ||
      !absl::SimpleAtoi(*args->Get("go-fd"), &go_fd)) {
    std::cerr << "monitor: internal command; usage: monitor --status-fd N --go-fd M\n";
    return 2;
  }
  return RunMonitor(go_fd, status_fd);
}

}  // namespace osgv
