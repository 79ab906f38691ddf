// Entry points of the binary's subcommands. Each returns the process exit
// code.
#pragma once

#include <string>
#include <vector>

namespace osgv {

int ServeCommand(const std::vector<std::string>& args);
int ExecCommand(const std::vector<std::string>& args);
int MonitorCommand(const std::vector<std::string>& args);
int CtlCommand(const std::vector<std::string>& args);
// Move one stopped sandbox between state dirs (migrate_command.cc).
int ExportCommand(const std::vector<std::string>& args);
int ImportCommand(const std::vector<std::string>& args);
// The image store: list, pull, rm, gc (images_command.cc).
int ImagesCommand(const std::vector<std::string>& args);
// One ephemeral sandbox, no driver needed (run_command.cc, probe_command.cc).
int RunEphemeralCommand(const std::vector<std::string>& args);
int ProbeCommand(const std::vector<std::string>& args);

}  // namespace osgv
