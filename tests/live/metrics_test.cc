// The Prometheus endpoint of a real `serve`: a create, stop, start and
// delete move exactly the series they should, as a plain HTTP scrape of
// /metrics shows them.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "common/loopback_http.h"
#include "live_support.h"

using namespace osgv::live;

namespace {

int FreePort() {
  int port = osgv::testing::FreeLoopbackPort();
  REQUIRE(port > 0);
  return port;
}

// GET /metrics; the body, "" when nothing answers with 200.
std::string Scrape(int port) {
  std::string response = osgv::testing::LoopbackHttpGet(port, "/metrics").value_or("");
  size_t body = response.find("\r\n\r\n");
  return response.rfind("HTTP/1.1 200", 0) == 0 && body != std::string::npos
             ? response.substr(body + 4)
             : "";
}

// The value of one series, written as in the exposition format
// (`osgv_sandboxes{phase="running"}`); -1 when the scrape lacks it.
double Series(const std::string& body, const std::string& series) {
  std::istringstream lines(body);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

std::string Phase(const std::string& p) { return "osgv_sandboxes{phase=\"" + p + "\"}"; }
std::string Count(const std::string& op, const std::string& outcome) {
  return "osgv_sandbox_" + op + "_duration_seconds_count{outcome=\"" + outcome + "\"}";
}
std::string Tool(const std::string& command, const std::string& outcome = "ok") {
  return "osgv_tool_calls_total{command=\"" + command + "\",outcome=\"" + outcome + "\"}";
}

// How many listening TCP sockets (v4 or v6) process `pid` holds: its
// socket fds' inodes against the LISTEN rows (state 0A) of /proc/net/tcp*.
int ListeningTcpSockets(pid_t pid) {
  std::set<std::string> inodes;
  std::error_code ec;
  for (const auto& fd : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    std::string target = std::filesystem::read_symlink(fd.path(), ec).string();
    if (target.rfind("socket:[", 0) == 0) inodes.insert(target.substr(8, target.size() - 9));
  }
  int listening = 0;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream f(table);
    std::string line;
    std::getline(f, line);  // header
    while (std::getline(f, line)) {
      std::istringstream row(line);
      std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
      row >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode;
      if (state == "0A" && inodes.count(inode)) ++listening;
    }
  }
  return listening;
}

}  // namespace

TEST_CASE("metrics: create stop start and delete move the counters a scrape shows",
          "[live][metrics]") {
  const int port = FreePort();
  Driver d("", "metrics:\n  listen: \"127.0.0.1:" + std::to_string(port) + "\"\n");
  CHECK(d.process.Log().find("metrics: serving /metrics on 127.0.0.1:") != std::string::npos);
  CHECK(ListeningTcpSockets(d.process.pid()) == 1);

  std::string m = Scrape(port);
  REQUIRE_FALSE(m.empty());
  CHECK(Series(m, Phase("running")) == 0);
  CHECK(Series(m, Tool("runsc --version")) == 1);  // feature detection at start-up
  CHECK(Series(m, "osgv_checkpoint_disk_free_bytes") > 0);
  CHECK(Series(m, "osgv_checkpoint_disk_size_bytes") >= Series(m, "osgv_checkpoint_disk_free_bytes"));

  auto sb = NewSandbox("metered", {"/bin/sh", "-c", "while true; do sleep 1; done"});
  REQUIRE(Create(d.stub.get(), sb).ok());
  WaitReady(d.stub.get(), sb.id());
  m = Scrape(port);
  CHECK(Series(m, Phase("running")) == 1);
  CHECK(Series(m, Phase("provisioning")) == 0);
  CHECK(Series(m, Count("create", "ok")) == 1);
  CHECK(Series(m, "osgv_sandbox_create_duration_seconds_sum{outcome=\"ok\"}") > 0);

  REQUIRE(Stop(d.stub.get(), sb.id()).ok());
  m = Scrape(port);
  CHECK(Series(m, Phase("stopped")) == 1);
  CHECK(Series(m, Phase("running")) == 0);
  CHECK(Series(m, Count("stop", "ok")) == 1);
  CHECK(Series(m, "osgv_checkpoint_image_bytes_count") == 1);
  CHECK(Series(m, "osgv_checkpoint_image_bytes_sum") > 4096);  // a sandbox's memory, compressed
  CHECK(Series(m, "osgv_checkpoint_duration_seconds_count") == 1);
  CHECK(Series(m, "osgv_checkpoint_seal_duration_seconds_count") == 1);
  CHECK(Series(m, Tool("runsc checkpoint")) == 1);
  CHECK(Series(m, "osgv_tool_call_duration_seconds_count{command=\"runsc checkpoint\"}") == 1);

  REQUIRE(Start(d.stub.get(), sb.id()).ok());
  auto s = WaitReady(d.stub.get(), sb.id());
  CHECK(ReadyCondition(s)->message().find("restored") != std::string::npos);
  m = Scrape(port);
  CHECK(Series(m, Phase("running")) == 1);
  CHECK(Series(m, Count("start", "ok")) == 1);
  for (const char* why : {"no_checkpoint", "checkpoint_unusable", "restore_failed"}) {
    CHECK(Series(m, std::string("osgv_cold_boots_total{reason=\"") + why + "\"}") == 0);
  }

  bool deleted = false;
  REQUIRE(Delete(d.stub.get(), sb.id(), &deleted).ok());
  REQUIRE(deleted);
  m = Scrape(port);
  for (const char* p : {"provisioning", "running", "stopping", "stopped", "starting", "deleting",
                        "exited", "failed"}) {
    CHECK(Series(m, Phase(p)) == 0);
  }
  CHECK(Series(m, Count("delete", "ok")) == 1);
  CHECK(Series(m, Tool("runsc delete")) >= 1);
  // No series names the sandbox.
  CHECK(m.find(sb.id()) == std::string::npos);
  CHECK(m.find("metered") == std::string::npos);
}

TEST_CASE("metrics: without metrics.listen serve opens no endpoint", "[live][metrics]") {
  Driver d;
  CHECK(ListeningTcpSockets(d.process.pid()) == 0);  // gRPC is on a unix socket only
  CHECK(d.process.Log().find("metrics:") == std::string::npos);
}
