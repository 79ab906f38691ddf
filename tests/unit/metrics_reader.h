// Reads one sample out of what a prometheus::Registry (or any Collectable)
// collects, the way a scrape would see it, so metric tests check values by
// name and labels. Header-only so the unit test glob needs no change.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace osgv::testing {

using LabelMap = std::map<std::string, std::string>;

inline const prometheus::ClientMetric* FindSample(
    const std::vector<prometheus::MetricFamily>& families, const std::string& name,
    const LabelMap& labels) {
  for (const auto& family : families) {
    if (family.name != name) continue;
    for (const auto& metric : family.metric) {
      LabelMap have;
      for (const auto& l : metric.label) have[l.name] = l.value;
      if (have == labels) return &metric;
    }
  }
  return nullptr;
}

// A counter's or gauge's value; nullopt when there is no such series.
inline std::optional<double> SampleValue(const std::vector<prometheus::MetricFamily>& families,
                                         const std::string& name, const LabelMap& labels = {}) {
  const prometheus::ClientMetric* m = FindSample(families, name, labels);
  if (m == nullptr) return std::nullopt;
  for (const auto& family : families) {
    if (family.name != name) continue;
    return family.type == prometheus::MetricType::Gauge ? m->gauge.value : m->counter.value;
  }
  return std::nullopt;
}
inline std::optional<double> SampleValue(const prometheus::Collectable& source,
                                         const std::string& name, const LabelMap& labels = {}) {
  return SampleValue(source.Collect(), name, labels);
}

// A histogram's observation count and sum; count 0 when there is no series.
struct HistogramSample {
  uint64_t count = 0;
  double sum = 0;
};
inline HistogramSample SampleHistogram(const prometheus::Collectable& source,
                                       const std::string& name, const LabelMap& labels = {}) {
  auto families = source.Collect();
  const prometheus::ClientMetric* m = FindSample(families, name, labels);
  if (m == nullptr) return {};
  return {m->histogram.sample_count, m->histogram.sample_sum};
}

}  // namespace osgv::testing
