#include "metrics/metered_runner.h"

#include "metrics/command_label.h"

namespace osgv {
namespace {

// From a quick `ip link show` (milliseconds) to a `skopeo copy` of a large
// image or a `runsc checkpoint` of a big sandbox (minutes).
const prometheus::Histogram::BucketBoundaries& DurationBuckets() {
  static const prometheus::Histogram::BucketBoundaries buckets = {
      0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600};
  return buckets;
}

}  // namespace

MeteredRunner::MeteredRunner(CommandRunner* inner, prometheus::Registry& registry, Clock now)
    : inner_(inner),
      now_(std::move(now)),
      calls_(prometheus::BuildCounter()
                 .Name("osgv_tool_calls_total")
                 .Help("runsc, skopeo, ip and nft calls the driver made, by tool and subcommand "
                       "and by outcome (ok, failed, killed, timeout, error)")
                 .Register(registry)),
      durations_(prometheus::BuildHistogram()
                     .Name("osgv_tool_call_duration_seconds")
                     .Help("How long each runsc, skopeo, ip and nft call took, by tool and "
                           "subcommand")
                     .Register(registry)) {}

const char* MeteredRunner::OutcomeOf(const absl::StatusOr<CommandResult>& result) {
  if (!result.ok()) return "error";
  if (result->timed_out) return "timeout";
  if (result->signal != 0) return "killed";
  return result->exit_code == 0 ? "ok" : "failed";
}

absl::StatusOr<CommandResult> MeteredRunner::Run(const Command& command) {
  const std::string label = CommandLabel(command.argv);
  auto t0 = now_();
  absl::StatusOr<CommandResult> result = inner_->Run(command);
  std::chrono::duration<double> took = now_() - t0;
  calls_.Add({{"command", label}, {"outcome", OutcomeOf(result)}}).Increment();
  durations_.Add({{"command", label}}, DurationBuckets()).Observe(took.count());
  return result;
}

void MeteredRunner::AbandonAll() { inner_->AbandonAll(); }

}  // namespace osgv
