// Resource limits reach runsc's cgroups and hold; one sandbox's excess
// never takes the host or its neighbours down.
#include <google/protobuf/util/json_util.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "lifecycle/state_layout.h"
#include "live_support.h"

using namespace osgv::live;

namespace {

std::string CgroupFile(const std::string& controller, const std::string& rid, const std::string& file) {
  std::ifstream in("/sys/fs/cgroup/" + controller + "/openshell-gvisor/" + rid + "/" + file);
  std::string v;
  std::getline(in, v);
  return v;
}

pb::DriverSandbox Terminal(pb::ComputeDriver::Stub* stub, const std::string& id) {
  auto s = WaitForSandbox(stub, id, [](const pb::DriverSandbox& x) {
    auto* c = ReadyCondition(x);
    return c && c->status() == "False" && c->reason() != "Starting";
  }, std::chrono::seconds(90));
  REQUIRE(s.has_value());
  return *s;
}

}  // namespace

TEST_CASE("cpu and memory limits reach the sandbox's cgroup", "[live][limits]") {
  Driver d;
  auto sb = NewSandbox("limited");
  auto* res = sb.mutable_spec()->mutable_template_()->mutable_resources();
  res->set_cpu_limit("500m");
  res->set_memory_limit("256Mi");
  REQUIRE(Create(d.stub.get(), sb).ok());
  auto s = WaitReady(d.stub.get(), sb.id());
  std::string rid = s.status().instance_id();
  CHECK(CgroupFile("cpu", rid, "cpu.cfs_quota_us") == "50000");
  CHECK(CgroupFile("cpu", rid, "cpu.cfs_period_us") == "100000");
  CHECK(CgroupFile("memory", rid, "memory.limit_in_bytes") == std::to_string(256 << 20));
  CHECK(CgroupFile("pids", rid, "pids.max") == "2048");  // the driver default
  auto free_mem = Exec(d.process, "limited", {"sh", "-c", "grep MemTotal /proc/meminfo"});
  CHECK(free_mem.out.find("262144 kB") != std::string::npos);
  REQUIRE(Delete(d.stub.get(), sb.id(), nullptr).ok());
}

TEST_CASE("a memory hog is stopped and reported while a neighbour keeps running", "[live][limits]") {
  Driver d;
  auto neighbour = NewSandbox("neighbour");
  REQUIRE(Create(d.stub.get(), neighbour).ok());
  auto hog = NewSandbox("hog", {"/bin/sh", "-c", "sleep 1; head -c 400m /dev/zero | tail -c 400m"});
  hog.mutable_spec()->mutable_template_()->mutable_resources()->set_memory_limit("64Mi");
  REQUIRE(Create(d.stub.get(), hog).ok());
  auto s = Terminal(d.stub.get(), hog.id());
  auto* c = ReadyCondition(s);
  INFO(c->reason() << ": " << c->message());
  CHECK((c->reason() == "OOMKilled" || c->reason() == "ProcessExited"));
  CHECK(c->message().find("code 0") == std::string::npos);  // it did not just finish
  WaitReady(d.stub.get(), neighbour.id());
  CHECK(Exec(d.process, "neighbour", {"true"}).exit_code == 0);
  REQUIRE(Delete(d.stub.get(), hog.id(), nullptr).ok());
  REQUIRE(Delete(d.stub.get(), neighbour.id(), nullptr).ok());
}

TEST_CASE("a fork bomb is contained by the pids limit", "[live][limits]") {
  Driver d;
  auto bomb = NewSandbox("bomb", {"/bin/sh", "-c",
                                  "sleep 1; i=0; while [ $i -lt 2000 ]; do sleep 1000 & i=$((i+1)); done; wait"});
  REQUIRE(google::protobuf::util::JsonStringToMessage(
              R"({"pids_limit": 256})", bomb.mutable_spec()->mutable_template_()->mutable_driver_config())
              .ok());
  REQUIRE(Create(d.stub.get(), bomb).ok());
  auto s = WaitReady(d.stub.get(), bomb.id());
  CHECK(CgroupFile("pids", s.status().instance_id(), "pids.max") == "256");
  // Either the sandbox dies at the limit (runsc counts host threads) or
  // its forks fail; in both cases the host and the driver stay fine.
  std::this_thread::sleep_for(std::chrono::seconds(4));
  auto other = NewSandbox("bystander");
  REQUIRE(Create(d.stub.get(), other).ok());
  WaitReady(d.stub.get(), other.id());
  CHECK(Exec(d.process, "bystander", {"true"}).exit_code == 0);
  auto count = RunCommand({"sh", "-c", "cat /sys/fs/cgroup/pids/openshell-gvisor/" +
                                           s.status().instance_id() + "/pids.current 2>/dev/null || echo 0"});
  CHECK(std::atoi(count.out.c_str()) <= 256);
  REQUIRE(Delete(d.stub.get(), bomb.id(), nullptr).ok());
  REQUIRE(Delete(d.stub.get(), other.id(), nullptr).ok());
}

TEST_CASE("a sandbox that prints without end keeps only a bounded console log", "[live][limits]") {
  Driver d("", "sandbox:\n  console_log_max: 64Ki\n");
  // About 1 MiB of output, then quiet: sixteen times the bound.
  auto sb = NewSandbox("chatty", {"/bin/sh", "-c",
                                  "i=0; while [ $i -lt 16384 ]; do "
                                  "echo \"line $i: 0123456789012345678901234567890123456789012345678\"; "
                                  "i=$((i+1)); done; echo done; exec sleep 1000000"});
  REQUIRE(Create(d.stub.get(), sb).ok());
  auto s = WaitReady(d.stub.get(), sb.id());
  const std::string log =
      osgv::StateLayout{d.process.state_dir()}.console_log(s.status().instance_id());
  auto tail = [&] { return RunCommand({"tail", "-n", "1", log}).out; };
  for (int i = 0; i < 300 && tail() != "done\n"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  REQUIRE(tail() == "done\n");  // the newest output is what is kept
  CHECK(std::filesystem::file_size(log) <= 64 * 1024);
  CHECK(std::filesystem::file_size(log + ".1") <= 64 * 1024);
  CHECK(std::filesystem::file_size(log + ".1") > 32 * 1024);
  REQUIRE(Delete(d.stub.get(), sb.id(), nullptr).ok());
}
