// `openshell-driver-gvisor probe [--image REF] [--json] [--network MODE]`:
// boots sandboxes the way `run` does and tries the boundary from inside,
// checking each attempt from the host (cli/probe/). Exit 0 only when
// every probe passes. The probes run the host's busybox-static, brought in
// read-only (cli/probe/probe_tools.h), so they work on any image.
//
// `--mount HOST:SANDBOX[:ro]` weakens every probe sandbox on purpose (with
// `--fixtures-dir DIR` the sentinel goes into a directory the caller knows,
// so it can mount it): the run then shows that the probes can fail, and
// says so, naming the rows that did.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/cli_args.h"
#include "cli/command_errors.h"
#include "cli/commands.h"
#include "cli/probe/probe.h"
#include "cli/probe/probe_report.h"
#include "cli/probe/probe_tools.h"
#include "cli/run/ephemeral_session.h"
#include "cli/run/interrupts.h"

namespace osgv {
namespace {

int Refuse(absl::string_view message) { return CommandError("probe", message); }

absl::Status BootSandboxes(ProbeWorld& world, EphemeralSession& s, const std::string& image) {
  auto primary = world.Boot("probe");
  if (!primary.ok()) return primary.status();
  world.primary = *primary;
  world.LearnTools(AllProbeTools());
  auto other = world.Boot("probe-other");
  if (!other.ok()) return other.status();
  world.other = *other;
  // Already unpacked by the boots above: this only looks it up.
  auto prepared = s.runtime().images->Prepare(image);
  if (!prepared.ok()) return prepared.status();
  world.image_rootfs = prepared->rootfs_dir;
  return absl::OkStatus();
}

std::vector<ProbeRow> RunProbes(ProbeWorld& world, const EphemeralSession& s) {
  std::vector<ProbeRow> rows;
  for (const auto& p : BoundaryProbes()) {
    if (s.interrupted()) break;
    rows.push_back(RunProbe(p, world));
  }
  return rows;
}

// "--mount /a:/b:ro --mount /c:/d", or "" for the configuration as shipped.
std::string Weakenings(const RunOptions& o) {
  std::vector<std::string> parts;
  for (const auto& m : o.mounts) {
    parts.push_back(absl::StrCat("--mount ", m.source, ":", m.destination, m.read_only ? ":ro" : ""));
  }
  return absl::StrJoin(parts, " ");
}

// On stderr, so --json stays a plain array: which rows failed or could not
// run, and that the configuration was weakened on purpose when it was.
void ReportFailures(const std::vector<ProbeRow>& rows, const std::string& weakened) {
  std::vector<std::string> failed = ProbesWith(rows, ProbeOutcome::kFail);
  std::vector<std::string> skipped = ProbesWith(rows, ProbeOutcome::kCouldNotRun);
  if (!weakened.empty()) {
    std::cerr << "probe: WEAKENED configuration (" << weakened
              << "): the results describe that configuration, not the driver's default\n";
  }
  if (!failed.empty()) {
    std::cerr << "probe: " << failed.size() << " of " << rows.size()
              << " probes FAILED: " << absl::StrJoin(failed, ", ") << "\n";
  }
  if (!skipped.empty()) {
    std::cerr << "probe: " << skipped.size() << " of " << rows.size()
              << " probes could not run (SKIP, neither passed nor failed): "
              << absl::StrJoin(skipped, ", ") << "\n";
  }
}

}  // namespace

constexpr char kProbeUsage[] =
    "usage: probe [--image REF] [--json] [--network none|sandbox] [--mount HOST:SANDBOX[:ro]]... "
    "[--fixtures-dir DIR] [--state-dir DIR] [--config FILE]";

constexpr char kProbeHelp[] =
    "Each probe row is PASS (the boundary held), FAIL (it was crossed; the evidence says how)\n"
    "or SKIP (the probe could not run, e.g. a tool it needs is missing; the evidence says why).\n"
    "Inside, the probes run the host's static busybox (/bin/busybox, bind-mounted read-only at\n"
    "/.osgv-probe/busybox), or the image's own tools when the host has none.\n"
    "exit status: 0 every probe passed; 1 a probe failed; 3 none failed but some could not run;\n"
    "2 usage; 125 could not boot the probe sandboxes; 128+N interrupted by signal N\n";

int ProbeCommand(const std::vector<std::string>& argv) {
  if (AsksForHelp(argv)) {
    std::cout << kProbeUsage << "\n" << kProbeHelp;
    return 0;
  }
  auto options = ParseProbeArgs(argv);
  if (!options.ok()) {
    return UsageError("probe", options.status().message(), kProbeUsage);
  }
  if (auto st = CheckMountsLeaveProbeTools(options->mounts); !st.ok()) {
    return UsageError("probe", st.message(), kProbeUsage);
  }
  if (geteuid() != 0) return Refuse("probe must run as root: runsc needs it to create sandboxes");
  spdlog::set_level(spdlog::level::warn);
  auto t0 = std::chrono::steady_clock::now();

  // Before any sandbox exists, so the monitors inherit the env token.
  auto host = HostFixtures::Start(options->fixtures_dir);
  if (!host.ok()) return Refuse(host.status().message());
  auto session = EphemeralSession::Open(*options);
  if (!session.ok()) return Refuse(session.status().message());
  EphemeralSession& s = **session;
  InterruptHandler interrupts = HandleInterrupts(s);
  auto image = s.ResolveImage();
  if (!image.ok()) return Refuse(image.status().message());

  ProbeTools tools = ProbeTools::ForHost(kBusyboxBinary);
  ProbeWorld world(&s, host->get(), *options, *image, tools);
  auto booted = BootSandboxes(world, s, *image);
  std::vector<ProbeRow> rows;
  if (booted.ok()) rows = RunProbes(world, s);
  auto cleaned = s.Cleanup();
  if (s.interrupted()) return 128 + interrupts.signal();
  if (!booted.ok()) return Refuse(absl::StrCat("cannot boot the probe sandboxes: ", booted.message()));

  const std::string weakened = Weakenings(*options);
  if (options->json) {
    std::cout << ProbeRowsToJson(rows).dump(2) << "\n";
  } else {
    auto secs = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now() - t0).count() / 1000.0;
    std::cout << FormatProbeTable(rows) << "network mode " << options->network << ", image "
              << *image << ", " << tools.Describe() << ", " << secs << " s"
              << (weakened.empty() ? "" : absl::StrCat(", WEAKENED: ", weakened)) << "\n";
  }
  std::cout.flush();
  ReportFailures(rows, weakened);
  if (!cleaned.ok()) return Refuse(absl::StrCat("cleanup: ", cleaned.message()));
  return ProbeExitCode(rows);
}

}  // namespace osgv
