// DriverMetrics: nothing at all unless metrics.listen is set; when it is,
// GET /metrics over plain HTTP returns the families, with the checkpoint
// disk gauges read at the scrape.
#include "metrics/driver_metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "metrics/checkpoint_disk.h"
#include "unit/fake_runner.h"
#include "unit/metrics_reader.h"
#include "unit/temp_dir.h"

namespace osgv {
namespace {

using namespace osgv::testing;  // NOLINT

// A port nobody listens on right now (bound, read, closed).
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// GET `path` from 127.0.0.1:port; the whole response, headers included.
std::string HttpGet(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return "";
  }
  std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  REQUIRE(write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size()));
  std::string response;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) response.append(buf, static_cast<size_t>(n));
  close(fd);
  return response;
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
