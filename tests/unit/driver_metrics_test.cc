// DriverMetrics: nothing at all unless metrics.listen is set; when it is,
// GET /metrics over plain HTTP returns the families, with the checkpoint
// disk gauges read at the scrape.
#include "metrics/driver_metrics.h"

#include <catch2/catch.hpp>
#include <optional>
#include <string>

#include "common/loopback_http.h"
#include "metrics/checkpoint_disk.h"
#include "unit/fake_runner.h"
#include "unit/metrics_reader.h"
#include "unit/temp_dir.h"

namespace osgv {
namespace {

using namespace osgv::testing;  // NOLINT

int FreePort() {
  int port = FreeLoopbackPort();
  REQUIRE(port > 0);
  return port;
}

// The whole response, headers included; "" when nothing answers.
std::string HttpGet(int port, const std::string& path) {
  std::optional<std::string> response = LoopbackHttpGet(port, path);
  REQUIRE(response.has_value());  // the request was written whole
  return *response;
}

TEST_CASE("DriverMetrics: no listen address means no metrics at all", "[metrics]") {
  FakeRunner runner;
  auto metrics = DriverMetrics::Start(MetricsConfig{}, &runner, "/nonexistent");
  REQUIRE(metrics.ok());
  CHECK(*metrics == nullptr);  // no registry, no exposer, no thread
}

TEST_CASE("DriverMetrics: /metrics answers over HTTP with every family", "[metrics]") {
  TempDir tmp;
  FakeRunner runner;
  MetricsConfig config;
  config.listen = "127.0.0.1:" + std::to_string(FreePort());
  auto metrics = DriverMetrics::Start(config, &runner, tmp.path() + "/checkpoints");
  INFO(metrics.status().ToString());
  REQUIRE(metrics.ok());
  REQUIRE(*metrics != nullptr);
  DriverMetrics& m = **metrics;

  Command c;
  c.argv = {"/usr/bin/runsc", "--root=/r", "list", "--format=json"};
  REQUIRE(m.runner()->Run(c).ok());
  CHECK(runner.count() == 1);  // the real runner still runs it

  std::string body = HttpGet(m.port(), "/metrics");
  CAPTURE(body);
  CHECK_THAT(body, Catch::StartsWith("HTTP/1.1 200"));
  CHECK_THAT(body, Catch::Contains("osgv_tool_calls_total{command=\"runsc list\",outcome=\"ok\"} 1"));
  CHECK_THAT(body, Catch::Contains("osgv_sandboxes{phase=\"running\"} 0"));
  CHECK_THAT(body, Catch::Contains("osgv_image_pulls_total{outcome=\"ok\"} 0"));
  CHECK_THAT(body, Catch::Contains("osgv_cold_boots_total{reason=\"restore_failed\"} 0"));
  CHECK_THAT(body, Catch::Contains("# TYPE osgv_sandbox_create_duration_seconds histogram"));
  CHECK_THAT(body, Catch::Contains("# TYPE osgv_checkpoint_image_bytes histogram"));
  CHECK_THAT(body, Catch::Contains("osgv_checkpoint_disk_free_bytes "));
  // The checkpoint dir does not exist yet: its parent's filesystem counts.
  CHECK(SampleValue(m.Collect(), "osgv_checkpoint_disk_size_bytes").value_or(0) > 0);
  CHECK(HttpGet(m.port(), "/").find("200") == std::string::npos);  // only /metrics is served
}

TEST_CASE("DriverMetrics: an address already in use is refused naming metrics.listen",
          "[metrics]") {
  FakeRunner runner;
  MetricsConfig config;
  config.listen = "127.0.0.1:" + std::to_string(FreePort());
  auto first = DriverMetrics::Start(config, &runner, "/");
  REQUIRE(first.ok());
  auto second = DriverMetrics::Start(config, &runner, "/");
  REQUIRE_FALSE(second.ok());
  CHECK(second.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(second.status().message()),
             Catch::StartsWith("metrics.listen: cannot listen on " + config.listen));
}

}  // namespace
}  // namespace osgv
