// A CommandRunner that counts and times every call it passes on to the
// real one: the decorator the driver puts around its one runner, so
// runsc, skopeo, ip and nft calls are measured without touching their
// callers. Labels: `command` (command_label.h) and `outcome`; never an
// argument.
#pragma once

#include <chrono>
#include <functional>

#include "lifecycle/runsc/command_runner.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace osgv {

// osgv_tool_calls_total{command,outcome} and
// osgv_tool_call_duration_seconds{command}. outcome: ok, failed (non-zero
// exit), killed (signal), timeout, error (no process could be started,
// or it was killed at shutdown: CommandRunner::AbandonAll).
class MeteredRunner : public CommandRunner {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  // `inner` must outlive this. `now` is replaceable so tests need no sleep.
  MeteredRunner(CommandRunner* inner, prometheus::Registry& registry,
                Clock now = std::chrono::steady_clock::now);

  absl::StatusOr<CommandResult> Run(const Command& command) override;
  void AbandonAll() override;

  // The outcome label of a call's result.
  static const char* OutcomeOf(const absl::StatusOr<CommandResult>& result);

 private:
  CommandRunner* inner_;
  Clock now_;
  prometheus::Family<prometheus::Counter>& calls_;
  prometheus::Family<prometheus::Histogram>& durations_;
};

}  // namespace osgv
