#include "lifecycle/idle_suspender.h"

#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <vector>

namespace osgv {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Strings = std::vector<std::string>;

// A clock that moves only when told, and cgroups whose CPU use the test sets.
struct FakeHost {
  IdleSuspender::Clock::time_point now{};  // any start will do
  std::map<std::string, uint64_t> cpu_ns;  // by runsc id; missing = unreadable

  IdleSuspender Suspender(milliseconds idle_after) {
    return IdleSuspender(
        idle_after, [this] { return now; },
        [this](const std::string& rid) -> std::optional<uint64_t> {
          auto it = cpu_ns.find(rid);
          if (it == cpu_ns.end()) return std::nullopt;
          return it->second;
        });
  }
};

const IdleSuspender::Running kAlpha{"sb-1", "osgv-a"};
const IdleSuspender::Running kBeta{"sb-2", "osgv-b"};

TEST_CASE("IdleSuspender: ticks are a quarter of idle_after, within 0.5 s to 30 s",
          "[idle_suspender]") {
  FakeHost host;
  CHECK(host.Suspender(seconds(1)).tick() == milliseconds(500));
  CHECK(host.Suspender(seconds(4)).tick() == seconds(1));
  CHECK(host.Suspender(seconds(60)).tick() == seconds(15));
  CHECK(host.Suspender(std::chrono::hours(1)).tick() == seconds(30));
}

TEST_CASE("IdleSuspender: a sandbox idle for idle_after is named once per idle period",
          "[idle_suspender]") {
  FakeHost host;
  auto idle = host.Suspender(seconds(60));  // ticks of 15 s; busy = 750 ms of CPU per tick
  const milliseconds tick = idle.tick();
  host.cpu_ns["osgv-a"] = 1000000;
  CHECK(idle.Observe({kAlpha}).empty());  // first sight: idle from now on
  for (int i = 0; i < 3; ++i) {
    host.now += tick;
    host.cpu_ns["osgv-a"] += 700000000;  // 700 ms: just under 5% of a core
    CHECK(idle.Observe({kAlpha}).empty());
  }
  host.now += tick;  // 60 s since first sight
  CHECK(idle.Observe({kAlpha}) == Strings{"sb-1"});
  // Still running (the checkpoint is under way or failed): not named again
  // until it has been idle for another full period.
  host.now += tick;
  CHECK(idle.Observe({kAlpha}).empty());
  host.now += 3 * tick;
  CHECK(idle.Observe({kAlpha}) == Strings{"sb-1"});
}

TEST_CASE("IdleSuspender: CPU use in any tick starts the idle period again",
          "[idle_suspender]") {
  FakeHost host;
  auto idle = host.Suspender(seconds(4));  // ticks of 1 s; busy = 50 ms per tick
  host.cpu_ns["osgv-a"] = 0;
  host.cpu_ns["osgv-b"] = 0;
  CHECK(idle.Observe({kAlpha, kBeta}).empty());
  for (int i = 0; i < 3; ++i) {
    host.now += seconds(1);
    host.cpu_ns["osgv-b"] += 100000000;  // 100 ms a tick: busy
    CHECK(idle.Observe({kAlpha, kBeta}).empty());
  }
  host.now += seconds(1);
  host.cpu_ns["osgv-b"] += 100000000;
  CHECK(idle.Observe({kAlpha, kBeta}) == Strings{"sb-1"});

  // From now on beta is quiet: four more seconds, and it is idle too.
  for (int i = 0; i < 3; ++i) {
    host.now += seconds(1);
    CHECK(idle.Observe({kAlpha, kBeta}).empty());
  }
  host.now += seconds(1);
  CHECK(idle.Observe({kAlpha, kBeta}) == Strings{"sb-1", "sb-2"});
}

TEST_CASE("IdleSuspender: a sandbox not running or unreadable for a tick starts afresh",
          "[idle_suspender]") {
  FakeHost host;
  auto idle = host.Suspender(seconds(4));
  host.cpu_ns["osgv-a"] = 5;
  CHECK(idle.Observe({kAlpha}).empty());
  host.now += seconds(3);
  CHECK(idle.Observe({kAlpha}).empty());

  SECTION("it left the running set (stopped, then started again)") {
    host.now += seconds(1);
    CHECK(idle.Observe({}).empty());
  }
  SECTION("its cgroup could not be read") {
    host.cpu_ns.erase("osgv-a");
    host.now += seconds(1);
    CHECK(idle.Observe({kAlpha}).empty());
    host.cpu_ns["osgv-a"] = 5;
  }
  // Back: idle counts from here, not from the first sight.
  host.now += seconds(1);
  CHECK(idle.Observe({kAlpha}).empty());
  host.now += seconds(3);
  CHECK(idle.Observe({kAlpha}).empty());
  host.now += seconds(1);
  CHECK(idle.Observe({kAlpha}) == Strings{"sb-1"});
}

TEST_CASE("IdleSuspender: a sandbox whose cgroup is never readable is never named",
          "[idle_suspender]") {
  FakeHost host;
  auto idle = host.Suspender(seconds(1));
  for (int i = 0; i < 10; ++i) {
    CHECK(idle.Observe({kAlpha}).empty());
    host.now += seconds(1);
  }
}

}  // namespace
}  // namespace osgv
