// An event loop's epoll instance across Stop/Start (docs/e2e.md, "Known
// problems"). The workload, tests/live/programs/epoll_restore_probe.cc,
// registers and deletes descriptors on one epoll instance all the time, as
// the OpenShell supervisor's tokio runtime does, and reports what it sees.
//
// What must hold on every runsc: the program keeps running across each
// Stop/Start (its turn count goes on: memory restored, no cold boot) and its
// listeners are still reported. What runsc 0.0~20240729 (Debian's) gets
// wrong: after a restore it reports events for registrations the program
// had already deleted, a gVisor defect fixed upstream on 2026-03-31 ("vfs:
// clear temporary notReady lists"). tokio stores a pointer in the event's
// data, so this is what crashes or deafens the upstream supervisor after a
// Start, and a restore of such a program can hang. On that runsc the test
// requires every Start to end restored or reported as a cold boot, and
// reports how often the defect struck; on any other runsc it fails on it.
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <sstream>
#include <thread>

#include "live_support.h"

using namespace osgv::live;
namespace fs = std::filesystem;

namespace {

// The runsc whose epoll defect is documented; any other must be clean.
constexpr char kRunscWithEpollDefect[] = "0.0~20240729.0";

struct ProbeStatus {
  long turns = -1, stale = -1, blind_ms = -1, accepted = -1;
};

ProbeStatus ReadStatus(const DriverProcess& d, const std::string& sandbox) {
  auto r = Exec(d, sandbox, {"cat", "/status"});
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  ProbeStatus s;
  REQUIRE(std::sscanf(r.out.c_str(), "turns=%ld stale=%ld blind_ms=%ld accepted=%ld", &s.turns,
                      &s.stale, &s.blind_ms, &s.accepted) == 4);
  return s;
}

// The busybox test image with the probe program added at /osgv/.
std::string ImageWithProbe() {
  const std::string& base = BusyboxImage();  // oci:<layout>:<tag>
  size_t tag_at = base.rfind(':');
  std::string layout = base.substr(4, tag_at - 4), tag = base.substr(tag_at + 1);
  std::string dir = MakeTempDir("epoll-image");
  fs::copy(layout, dir + "/layout", fs::copy_options::recursive);
  fs::create_directories(dir + "/add/osgv");
  const std::string program = dir + "/add/osgv/epoll_restore_probe";
  fs::copy_file(OSGV_EPOLL_RESTORE_PROBE, program);
  // umoci 0.4.7 ends a layer right after the last file's data, without the
  // tar padding to 512 bytes, which the driver rightly refuses as truncated
  // ("Truncated input file"). A size that needs no padding avoids it; the
  // zeros after the ELF image are never loaded.
  fs::resize_file(program, (fs::file_size(program) + 511) / 512 * 512);
  auto r = RunCommand({"umoci", "insert", "--image", dir + "/layout:" + tag, dir + "/add", "/"});
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  return "oci:" + dir + "/layout:" + tag;
}

std::string RunscVersion() {
  auto r = RunCommand({"runsc", "--version"});
  std::istringstream in(r.out);
  std::string word, version;
  in >> word >> word >> version;  // "runsc version <v>"
  return version;
}

}  // namespace

TEST_CASE("an event loop's epoll instance across stop/start cycles", "[live][checkpoint][epoll]") {
  // A restore of this sandbox takes under a second; on the defective runsc
  // one can hang instead, and the driver's fallback should not wait a minute.
  Driver d("", "runsc:\n  timeout: 20s\n");
  auto sb = NewSandbox("epoll-loop", {"/osgv/epoll_restore_probe"});
  sb.mutable_spec()->mutable_template_()->set_image(ImageWithProbe());
  REQUIRE(Create(d.stub.get(), sb).ok());
  WaitReady(d.stub.get(), sb.id());
  std::this_thread::sleep_for(std::chrono::seconds(2));
  ProbeStatus before = ReadStatus(d.process, "epoll-loop");
  REQUIRE(before.turns > 0);
  CHECK(before.stale == 0);  // before any restore, never

  constexpr int kCycles = 4;
  int restored = 0, cold = 0, deaf = 0;
  long stale = 0;  // events for deleted registrations, over all restores
  for (int cycle = 1; cycle <= kCycles; ++cycle) {
    INFO("cycle " << cycle);
    auto st = Stop(d.stub.get(), sb.id());
    INFO(st.error_message());
    REQUIRE(st.ok());
    WaitSuspended(d.stub.get(), sb.id());
    REQUIRE(Start(d.stub.get(), sb.id()).ok());
    auto ready = WaitReady(d.stub.get(), sb.id());
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    ProbeStatus after = ReadStatus(d.process, "epoll-loop");
    std::string message = ReadyCondition(ready)->message();
    INFO("turns " << before.turns << " -> " << after.turns << ", stale " << after.stale
                  << ", blind " << after.blind_ms << " ms; Ready: " << message);
    if (after.turns > before.turns) {
      // Memory restored: the loop went on from where it was. Its listeners
      // should still be reported: a connection unanswered for a second
      // means epoll went deaf to one.
      ++restored;
      CHECK(message.find("booted cold") == std::string::npos);
      if (after.blind_ms >= 1000) ++deaf;
      stale += after.stale - before.stale;
    } else {
      // The loop started again: only acceptable when the driver says so.
      ++cold;
      CHECK(message.find("booted cold") != std::string::npos);
      stale += after.stale;
    }
    before = after;
  }
  REQUIRE(Delete(d.stub.get(), sb.id(), nullptr).ok());

  const std::string version = RunscVersion();
  INFO("runsc " << version << ": " << restored << " restored (" << deaf << " with a deaf listener), "
                << cold << " booted cold, " << stale << " event(s) for deleted registrations");
  if (version == kRunscWithEpollDefect) {
    // Every Start ended Ready with its memory or said it booted cold (the
    // CHECKs above); how often the defect struck is reported, not required.
    WARN("runsc " << version << " over " << kCycles << " stop/start cycles: " << restored
                  << " restored (" << deaf << " with a listener epoll no longer reports), " << cold << " booted cold after a failed restore, " << stale
                  << " event(s) reported for deleted epoll registrations (a gVisor defect fixed "
                  "upstream on 2026-03-31; docs/e2e.md, \"Known problems\")");
  } else {
    CHECK(cold == 0);
    CHECK(deaf == 0);
    CHECK(stale == 0);
  }
}
