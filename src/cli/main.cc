// openshell-driver-gvisor: one binary, several commands.
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"

namespace {

constexpr char kUsage[] = R"(usage: openshell-driver-gvisor COMMAND [ARGS]

commands:
  serve --socket PATH --state-dir DIR [--config FILE] [--driver-name NAME]
        [--log-level LEVEL] [--log-format text|json] [--check-config]
      Serve openshell.compute.v1.ComputeDriver on a Unix socket.
  exec --state-dir DIR [--config FILE] [--timeout D] SANDBOX -- CMD...
      Run CMD in a running sandbox (SANDBOX = id or name); exit with its code.
  ctl --socket PATH [--json] [--timeout D] caps|health|list|get|create|validate|stop|start|delete|watch
      Talk to a running driver (ctl --help for details).
  run [--image REF] [--network none|sandbox] [--memory Q] [--cpu Q] [--env K=V]...
      [--mount HOST:SANDBOX[:ro]]... [--keep] [--state-dir DIR] [--config FILE] -- CMD...
      Run CMD in a fresh sandbox (no driver needed) with this terminal's stdio;
      exit with its code; remove the sandbox and its state afterwards.
  probe [--image REF] [--json] [--network none|sandbox] [--state-dir DIR] [--config FILE]
        [--mount HOST:SANDBOX[:ro]]... [--fixtures-dir DIR]
      Boot sandboxes and check the isolation boundary from both sides; exit 0
      only when every probe passes (docs/isolation.md). --mount weakens the
      sandboxes on purpose, to show the probes fail: e.g. --fixtures-dir D
      --mount D:D:ro puts the host sentinel in D and shares D with the sandbox.
  export --state-dir DIR [--config FILE] SANDBOX FILE
      Write a stopped sandbox (files, memory, record) to the archive FILE.
  import --state-dir DIR [--config FILE] FILE
      Add the sandbox in FILE to DIR, stopped; no driver may be serving DIR.
  images list|pull REF|rm REF|gc [--state-dir DIR] [--config FILE] [--json] [--grace D]
      The image store: what is cached, pull one, remove one, remove what no
      sandbox uses (gc keeps images used in the last --grace, default 10m).
  version
      Print the driver version.
)";

}  // namespace

int main(int argc, char* argv[]) {
  if (argc < 2) {
    std::cerr << kUsage;
    return 2;
  }
  std::string command = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  if (command == "serve") return osgv::ServeCommand(args);
  if (command == "exec") return osgv::ExecCommand(args);
  if (command == "ctl") return osgv::CtlCommand(args);
  if (command == "monitor") return osgv::MonitorCommand(args);
  if (command == "run") return osgv::RunEphemeralCommand(args);
  if (command == "probe") return osgv::ProbeCommand(args);
  if (command == "export") return osgv::ExportCommand(args);
  if (command == "import") return osgv::ImportCommand(args);
  if (command == "images") return osgv::ImagesCommand(args);
  if (command == "version" || command == "--version") {
    std::cout << "openshell-driver-gvisor " << OSGV_VERSION << "\n";
    return 0;
  }
  if (command == "help" || command == "--help" || command == "-h") {
    std::cout << kUsage;
    return 0;
  }
  std::cerr << "unknown command '" << command << "'\n" << kUsage;
  return 2;
}
