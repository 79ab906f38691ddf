// `openshell-driver-gvisor monitor`: internal; started by the driver, one per
// sandbox. Not for operators.
#include <iostream>

#include "absl/strings/numbers.h"
#include "driver/cli_args.h"
#include "driver/commands.h"
#include "lifecycle/monitor/monitor.h"

namespace osgv {

int MonitorCommand(const std::vector<std::string>& argv) {
  auto args = ParseArgs(argv, {"spec", "status-fd"}, {});
  int status_fd = -1;
  if (!args.ok() || !args->Get("spec") || !args->Get("status-fd") ||
      !absl::SimpleAtoi(*args->Get("status-fd"), &status_fd)) {
    std::cerr << "monitor: internal command; usage: monitor --spec FILE --status-fd N\n";
    return 2;
  }
  return RunMonitor(*args->Get("spec"), status_fd);
}

}  // namespace osgv
