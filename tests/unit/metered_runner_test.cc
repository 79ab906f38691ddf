// MeteredRunner: every call through the driver's runner is counted by
// command and outcome, and timed, and passes through unchanged.
#include "metrics/metered_runner.h"

#include <catch2/catch.hpp>

#include "unit/fake_runner.h"
#include "unit/metrics_reader.h"

namespace osgv {
namespace {

using osgv::testing::FakeRunner;
using osgv::testing::SampleHistogram;
using osgv::testing::SampleValue;

// A clock that moves only when told to.
struct ManualClock {
  std::chrono::steady_clock::time_point now{};
  MeteredRunner::Clock fn() {
    return [this] { return now; };
  }
};

// The fake answers instantly; a clock that advances 250 ms on each reading
// after the first makes every call "take" 250 ms.
struct SteppingRunner : FakeRunner {
  ManualClock* clock = nullptr;
  absl::StatusOr<CommandResult> Run(const Command& c) override {
    clock->now += std::chrono::milliseconds(250);
    return FakeRunner::Run(c);
  }
};

Command Runsc(const std::string& sub) {
  Command c;
  c.argv = {"/usr/bin/runsc", "--root=/r", sub, "osgv-id"};
  return c;
}

TEST_CASE("MeteredRunner counts tool calls by command and outcome and times them",
          "[metrics]") {
  prometheus::Registry registry;
  ManualClock clock;
  SteppingRunner inner;
  inner.clock = &clock;
  MeteredRunner runner(&inner, registry, clock.fn());

  inner.Script("state", FakeRunner::Ok("{}"));
  inner.Script("checkpoint", FakeRunner::Exit(1, "no space"));
  inner.Script("delete", FakeRunner::TimedOut());
  inner.Enqueue("kill", absl::UnavailableError("fork failed"));
  CommandResult killed;
  killed.signal = 9;
  inner.Enqueue("kill", killed);

  auto r = runner.Run(Runsc("state"));
  REQUIRE(r.ok());
  CHECK(r->stdout_text == "{}");  // passed through unchanged
  runner.Run(Runsc("state")).IgnoreError();
  CHECK(runner.Run(Runsc("checkpoint"))->exit_code == 1);
  runner.Run(Runsc("delete")).IgnoreError();
  CHECK_FALSE(runner.Run(Runsc("kill")).ok());
  runner.Run(Runsc("kill")).IgnoreError();
  CHECK(inner.count() == 6);

  auto calls = [&](const std::string& command, const std::string& outcome) {
    return SampleValue(registry, "osgv_tool_calls_total",
                       {{"command", command}, {"outcome", outcome}});
  };
  CHECK(calls("runsc state", "ok") == 2);
  CHECK(calls("runsc checkpoint", "failed") == 1);
  CHECK(calls("runsc delete", "timeout") == 1);
  CHECK(calls("runsc kill", "error") == 1);
  CHECK(calls("runsc kill", "killed") == 1);
  CHECK_FALSE(calls("runsc state", "failed").has_value());

  auto state = SampleHistogram(registry, "osgv_tool_call_duration_seconds",
                               {{"command", "runsc state"}});
  CHECK(state.count == 2);
  CHECK(state.sum == Approx(0.5));
  // No series carries an argument (the sandbox's runsc id).
  for (const auto& family : registry.Collect()) {
    for (const auto& metric : family.metric) {
      for (const auto& label : metric.label) CHECK(label.value.find("osgv-id") == std::string::npos);
    }
  }
}

}  // namespace
}  // namespace osgv
