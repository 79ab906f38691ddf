#include "cli/driver_config.h"

namespace osgv {

absl::StatusOr<Config> ConfigFromArgs(const ParsedArgs& args) {
  Config config;
  if (auto path = args.Get("config")) {
    auto loaded = LoadConfigFile(*path);
    if (!loaded.ok()) return loaded.status();
    config = *loaded;
  }
  if (auto v = args.Get("socket")) config.socket.path = *v;
  if (auto v = args.Get("state-dir")) config.state_dir = *v;
  if (auto v = args.Get("driver-name")) config.driver_name = *v;
  if (auto v = args.Get("log-level")) config.log.level = *v;
  if (auto v = args.Get("log-format")) config.log.format = *v;
  return config;
}

}  // namespace osgv
