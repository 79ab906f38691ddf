// `openshell-driver-gvisor run [...] -- CMD...`: one ephemeral sandbox, CMD
// on our stdio, CMD's exit code, and nothing left behind afterwards.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "cli/cli_args.h"
#include "cli/command_errors.h"
#include "cli/commands.h"
#include "cli/run/ephemeral_session.h"
#include "cli/run/interrupts.h"
#include "cli/stdio_passthrough.h"
#include "lifecycle/state_layout.h"

namespace osgv {
namespace {

int Fail(absl::string_view message) { return CommandError("run", message); }

void PrintKept(const EphemeralSession& s, const SandboxRecord& r) {
  std::cerr << "run: kept sandbox " << r.id << " (runsc id " << r.runsc_id << ") in "
            << s.state_dir() << "\n"
            << "  exec:   openshell-driver-gvisor exec --state-dir " << s.state_dir() << " "
            << r.id << " -- sh\n"
            << "  remove: runsc --root=" << StateLayout{s.state_dir()}.runsc_root() << " delete --force " << r.runsc_id
            << "; umount " << StateLayout{s.state_dir()}.rootfs(r.runsc_id) << "; rm -rf "
            << s.state_dir() << "\n";
}

// runsc exec may have printed its own complaint about the sandbox vanishing
// under it; say what happened.
int Interrupted(EphemeralSession& s, int sig) {
  auto st = s.Cleanup();
  std::cerr << "run: interrupted by " << strsignal(sig)
            << (st.ok() ? "; sandbox removed" : absl::StrCat("; cleanup: ", st.message())) << "\n";
  return 128 + sig;
}

}  // namespace

constexpr char kRunUsage[] =
    "usage: run [--image REF] [--network none|sandbox] [--memory Q] [--cpu Q] [--env K=V]... "
    "[--mount HOST:SANDBOX[:ro]]... [--keep] [--state-dir DIR] [--config FILE] -- CMD...";

int RunEphemeralCommand(const std::vector<std::string>& argv) {
  if (AsksForHelp(argv)) {
    std::cout << kRunUsage << "\n";
    return 0;
  }
  auto options = ParseRunArgs(argv);
  if (!options.ok()) {
    return UsageError("run", options.status().message(), kRunUsage);
  }
  if (geteuid() != 0) return Fail("run must run as root: runsc needs it to create sandboxes");
  spdlog::set_level(spdlog::level::warn);  // CMD's output is what the user wants to see

  auto session = EphemeralSession::Open(*options);
  if (!session.ok()) return Fail(session.status().message());
  EphemeralSession& s = **session;
  InterruptHandler interrupts = HandleInterrupts(s);

  auto image = s.ResolveImage();
  if (!image.ok()) return Fail(image.status().message());
  auto name = EphemeralName("run");
  if (!name.ok()) return Fail(name.status().message());
  auto request = EphemeralRequest(*options, *name, *image, kKeepAlive);
  auto record = s.Boot(request);
  if (s.interrupted()) return Interrupted(s, interrupts.signal());
  if (!record.ok()) return Fail(record.status().message());

  // Our stdio is handed to CMD as it is, so on a terminal CMD's stdin and
  // stdout are that terminal (isatty() is true inside). We do not ask runsc
  // for a pty of its own: this runsc's `exec` has no --tty flag, and its
  // --console-socket is ignored for a command given on the command line.
  auto result = s.ExecAttached(record->runsc_id, options->command);
  int code = result.ok() ? ExitCodeOf(*result) : kExitCannotRun;
  if (!result.ok()) Fail(result.status().message());
  if (options->keep && !s.interrupted()) {
    s.Keep();
    PrintKept(s, *record);
    return code;
  }
  if (auto st = s.Cleanup(); !st.ok()) {
    Fail(absl::StrCat("cleanup: ", st.message()));
    if (code == 0) code = kExitCannotRun;
  }
  return s.interrupted() ? Interrupted(s, interrupts.signal()) : code;
}

}  // namespace osgv
