#include "metrics/driver_metrics.h"

#include <spdlog/spdlog.h>

#include <exception>
#include <functional>

#include "absl/strings/str_cat.h"
#include "prometheus/exposer.h"

namespace osgv {
namespace {

// Runs `refresh` before each collection: gauges that are read, not
// counted, are fresh at every scrape and cost nothing between scrapes.
class RefreshingCollectable : public prometheus::Collectable {
 public:
  RefreshingCollectable(std::shared_ptr<prometheus::Registry> registry,
                        std::function<void()> refresh)
      : registry_(std::move(registry)), refresh_(std::move(refresh)) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    refresh_();
    return registry_->Collect();
  }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::function<void()> refresh_;
};

}  // namespace

DriverMetrics::DriverMetrics(CommandRunner* runner, const std::string& checkpoint_dir)
    : registry_(std::make_shared<prometheus::Registry>()),
      runner_(runner, *registry_),
      images_(*registry_),
      sandboxes_(*registry_),
      disk_(*registry_, checkpoint_dir),
      scrape_(std::make_shared<RefreshingCollectable>(registry_, [this] { disk_.Refresh(); })) {}

DriverMetrics::~DriverMetrics() = default;

absl::StatusOr<std::unique_ptr<DriverMetrics>> DriverMetrics::Start(
    const MetricsConfig& config, CommandRunner* runner, const std::string& checkpoint_dir) {
  if (config.listen.empty()) return nullptr;
  std::unique_ptr<DriverMetrics> metrics(new DriverMetrics(runner, checkpoint_dir));
  try {
    // The address was validated as IP:PORT or [IPv6]:PORT (config.cc), so
    // civetweb reads no option (such as an "s" for TLS) into it.
    metrics->exposer_ = std::make_unique<prometheus::Exposer>(config.listen, 2);
  } catch (const std::exception& e) {
    return absl::FailedPreconditionError(
        absl::StrCat("metrics.listen: cannot listen on ", config.listen, ": ", e.what()));
  }
  metrics->exposer_->RegisterCollectable(metrics->scrape_);
  spdlog::info("metrics: serving /metrics on {}", config.listen);
  return metrics;
}

std::vector<prometheus::MetricFamily> DriverMetrics::Collect() const { return scrape_->Collect(); }

int DriverMetrics::port() const {
  std::vector<int> ports = exposer_ ? exposer_->GetListeningPorts() : std::vector<int>{};
  return ports.empty() ? 0 : ports.front();
}

}  // namespace osgv
