// `openshell-driver-gvisor probe [--image REF] [--json] [--network MODE]`:
// boots sandboxes the way `run` does and tries the boundary from inside,
// checking each attempt from the host (driver/probe/). Exit 0 only when
// every probe passes.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "driver/commands.h"
#include "driver/probe/probe.h"
#include "driver/probe/probe_report.h"
#include "driver/run/ephemeral_session.h"
#include "driver/run/interrupts.h"

namespace osgv {
namespace {

constexpr int kCannotRun = 125;

int Refuse(const std::string& message, int code = kCannotRun) {
  std::cerr << "probe: " << message << "\n";
  return code;
}

absl::Status BootSandboxes(ProbeWorld& world, EphemeralSession& s, const std::string& image) {
  auto primary = world.Boot("probe");
  if (!primary.ok()) return primary.status();
  world.primary = *primary;
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
    ProbeResult r = p.run(world);
    rows.push_back({p.name, p.expectation, r.pass, r.evidence});
  }
  return rows;
}

}  // namespace

int ProbeCommand(const std::vector<std::string>& argv) {
  auto options = ParseProbeArgs(argv);
  if (!options.ok()) {
    return Refuse(absl::StrCat(options.status().message(),
                             "\nusage: probe [--image REF] [--json] [--network none|sandbox] "
                             "[--state-dir DIR] [--config FILE]"),
                2);
  }
  if (geteuid() != 0) return Refuse("probe must run as root: runsc needs it to create sandboxes");
  spdlog::set_level(spdlog::level::warn);
  auto t0 = std::chrono::steady_clock::now();

  // Before any sandbox exists, so the monitors inherit the env token.
  auto host = HostFixtures::Start();
  if (!host.ok()) return Refuse(std::string(host.status().message()));
  auto session = EphemeralSession::Open(*options);
  if (!session.ok()) return Refuse(std::string(session.status().message()));
  EphemeralSession& s = **session;
  InterruptHandler interrupts([&](int) { s.Interrupt(); },
                              [&](int sig) {
                                s.EmergencyCleanup();
                                _exit(128 + sig);
                              });
  auto image = s.ResolveImage();
  if (!image.ok()) return Refuse(std::string(image.status().message()));

  ProbeWorld world(&s, host->get(), *options, *image);
  auto booted = BootSandboxes(world, s, *image);
  std::vector<ProbeRow> rows;
  if (booted.ok()) rows = RunProbes(world, s);
  auto cleaned = s.Cleanup();
  if (s.interrupted()) return 128 + interrupts.signal();
  if (!booted.ok()) return Refuse(absl::StrCat("cannot boot the probe sandboxes: ", booted.message()));

  if (options->json) {
    std::cout << ProbeRowsToJson(rows).dump(2) << "\n";
  } else {
    auto secs = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now() - t0).count() / 1000.0;
    std::cout << FormatProbeTable(rows) << "network mode " << options->network << ", image "
              << *image << ", " << secs << " s\n";
  }
  if (!cleaned.ok()) return Refuse(absl::StrCat("cleanup: ", cleaned.message()));
  return ProbeExitCode(rows);
}

}  // namespace osgv
