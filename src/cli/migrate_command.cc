// `openshell-driver-gvisor export` and `import`: move one stopped sandbox
// to another driver instance (lifecycle/migration/sandbox_archive.h).
//
// Export only reads the state dir, so it may run beside a serving driver
// (the store is SQLite in WAL mode). Import writes into it, so it takes the
// state dir's lock and refuses while a driver holds it.
#include <unistd.h>

#include <filesystem>
#include <iostream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cli/cli_args.h"
#include "cli/command_errors.h"
#include "cli/commands.h"
#include "cli/driver_config.h"
#include "cli/state_dir_lock.h"
#include "lifecycle/fs_util.h"
#include "lifecycle/migration/sandbox_archive.h"
#include "lifecycle/sandbox_status.h"
#include "lifecycle/state_layout.h"
#include "lifecycle/store/state_store.h"

namespace osgv {
namespace {

constexpr char kExportUsage[] = "usage: export --state-dir DIR [--config FILE] SANDBOX FILE";
constexpr char kImportUsage[] = "usage: import --state-dir DIR [--config FILE] FILE";

}  // namespace

int ExportCommand(const std::vector<std::string>& argv) {
  auto args = ParseArgs(argv, {"state-dir", "config"}, {});
  if (!args.ok()) return UsageError("export", args.status().message(), kExportUsage);
  if (args->positional.size() != 2 || !args->Get("state-dir")) {
    return UsageError("export", "needs --state-dir, a sandbox and a file", kExportUsage);
  }
  auto config = ConfigFromArgs(*args);
  if (!config.ok()) return UsageError("export", config.status().message(), kExportUsage);
  const std::string& sandbox = args->positional[0];
  const std::string& file = args->positional[1];

  StateLayout layout{config->state_dir};
  if (!std::filesystem::exists(layout.database())) {
    return CommandFailed("export", absl::NotFoundError(absl::StrCat(
                                "no driver state in ", config->state_dir,
                                " (is --state-dir right?)")));
  }
  auto store = StateStore::Open(layout.database());
  if (!store.ok()) return CommandFailed("export", store.status());
  auto result = ExportSandbox(store->get(), layout, sandbox, file);
  if (!result.ok()) return CommandFailed("export", result.status());
  for (const auto& w : result->warnings) std::cerr << "export: warning: " << w << "\n";
  const auto& r = result->manifest.record;
  std::cout << "exported sandbox '" << r.id << "' (name '" << r.name << "', workspace '"
            << r.workspace << "') to " << file << ": " << DescribeMiB(result->archive_bytes) << ", "
            << (result->manifest.checkpoint
                    ? absl::StrCat("with its memory (",
                                   DescribeMiB(result->manifest.checkpoint->bytes), " checkpoint)")
                    : std::string("without memory (it will boot cold)"))
            << "\n";
  return 0;
}

int ImportCommand(const std::vector<std::string>& argv) {
  auto args = ParseArgs(argv, {"state-dir", "config"}, {});
  if (!args.ok()) return UsageError("import", args.status().message(), kImportUsage);
  if (args->positional.size() != 1 || !args->Get("state-dir")) {
    return UsageError("import", "needs --state-dir and a file", kImportUsage);
  }
  auto config = ConfigFromArgs(*args);
  if (!config.ok()) return UsageError("import", config.status().message(), kImportUsage);
  if (geteuid() != 0) {
    return CommandFailed("import", absl::PermissionDeniedError(
                                "import must run as root: it restores file owners, device nodes "
                                "(overlay whiteouts) and trusted.* xattrs"));
  }
  const std::string& file = args->positional[0];
  StateLayout layout{config->state_dir};
  if (auto st = MakeDirs(layout.root, 0700); !st.ok()) return CommandFailed("import", st);
  // Held until we return: no driver may start on this state dir meanwhile.
  auto lock = LockStateDir(layout.lock_file());
  if (!lock.ok()) {
    return CommandFailed("import", absl::Status(lock.status().code(), absl::StrCat(
                                "cannot import into ", config->state_dir, ": ",
                                lock.status().message(), "; stop the driver on ",
                                config->state_dir,
                                " first, or import into a directory no driver is using")));
  }
  struct Unlock {
    int fd;
    ~Unlock() { close(fd); }
  } unlock{*lock};
  auto store = StateStore::Open(layout.database());
  if (!store.ok()) return CommandFailed("import", store.status());
  auto result = ImportSandbox(store->get(), layout, *config, file);
  if (!result.ok()) return CommandFailed("import", result.status());
  for (const auto& w : result->warnings) std::cerr << "import: warning: " << w << "\n";
  const auto& r = result->record;
  std::cout << "imported sandbox '" << r.id << "' (name '" << r.name << "', workspace '"
            << r.workspace << "') into " << config->state_dir << " as " << r.runsc_id
            << "; it is stopped: "
            << (result->manifest.checkpoint ? "StartSandbox restores its memory"
                                            : "StartSandbox boots it cold (no memory was kept)")
            << "\n";
  return 0;
}

}  // namespace osgv
