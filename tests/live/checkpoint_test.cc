// Stop = checkpoint, Start = restore: memory survives, failures are safe.
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "lifecycle/state_layout.h"
#include "live_support.h"

using namespace osgv::live;
namespace fs = std::filesystem;

namespace {

// A counter that lives only in a shell variable; the file is just where we
// can read it from (renamed into place, so a reader never sees it empty).
// After a cold boot it would start again from 1.
const std::vector<std::string> kCounter = {
    "/bin/sh", "-c",
    "echo before-stop > /root/marker; i=0; while true; do i=$((i+1)); echo $i > /root/counter.new; mv /root/counter.new /root/counter; "
    "sleep 0.1; done"};

int ReadCounter(const DriverProcess& d, const std::string& sandbox) {
  auto r = Exec(d, sandbox, {"cat", "/root/counter"});
  REQUIRE(r.exit_code == 0);
  return std::stoi(r.out);
}

std::string InstanceId(pb::ComputeDriver::Stub* stub, const std::string& id) {
  auto s = WaitForSandbox(stub, id, [](const pb::DriverSandbox&) { return true; });
  REQUIRE(s.has_value());
  return s->status().instance_id();
}

// Runs the counter until it is well past 1, stops, and returns its value
// as the sandbox's files saw it at the moment of the stop.
int StartCounterAndStop(Driver& d, const std::string& id, const std::string& name) {
  REQUIRE(WaitForSandbox(d.stub.get(), id, [&](const pb::DriverSandbox&) {
    auto r = Exec(d.process, name, {"cat", "/root/counter"});
    return r.exit_code == 0 && std::stoi(r.out) >= 15;
  }).has_value());
  auto st = Stop(d.stub.get(), id);
  INFO(st.error_message());
  REQUIRE(st.ok());
  auto s = WaitSuspended(d.stub.get(), id);
  CHECK(SuspendedCondition(s)->reason() == "Checkpointed");
  CHECK(ReadyCondition(s) == nullptr);  // no Ready=False that could read as Error
  std::string rid = s.status().instance_id();
  std::ifstream f(osgv::StateLayout{d.process.state_dir()}.upper(rid) + "/root/counter");
  int v = 0;
  f >> v;
  REQUIRE(v >= 15);
  return v;
}

}  // namespace

TEST_CASE("stop checkpoints and start restores memory: a shell counter continues", "[live][checkpoint]") {
  Driver d;
  auto sb = NewSandbox("counter", kCounter);
  REQUIRE(Create(d.stub.get(), sb).ok());
  WaitReady(d.stub.get(), sb.id());
  int at_stop = StartCounterAndStop(d, sb.id(), "counter");

  CHECK(Stop(d.stub.get(), sb.id()).ok());  // stopping a stopped sandbox: no-op
  CHECK(Exec(d.process, "counter", {"true"}).exit_code != 0);  // nothing runs while stopped

  REQUIRE(Start(d.stub.get(), sb.id()).ok());
  auto s = WaitReady(d.stub.get(), sb.id());
  CHECK(ReadyCondition(s)->message().find("restored") != std::string::npos);
  int after = ReadCounter(d.process, "counter");
  INFO("at stop " << at_stop << ", after start " << after);
  CHECK(after >= at_stop);  // a cold boot would have started again from 1
  CHECK(Exec(d.process, "counter", {"cat", "/root/marker"}).out == "before-stop\n");
  CHECK(Start(d.stub.get(), sb.id()).ok());  // starting a running sandbox: no-op

  bool deleted = false;
  REQUIRE(Delete(d.stub.get(), sb.id(), &deleted).ok());
  CHECK(deleted);
  CHECK(fs::is_empty(d.process.state_dir() + "/checkpoints"));
  CHECK(RunscList(d.process.state_dir()).empty());
}

TEST_CASE("a stopped sandbox survives a driver restart and is restored by the new driver", "[live][checkpoint]") {
  std::string state = MakeTempDir("state");
  auto sb = NewSandbox("restartee", kCounter);
  int at_stop = 0;
  {
    Driver d(state);
    REQUIRE(Create(d.stub.get(), sb).ok());
    WaitReady(d.stub.get(), sb.id());
    at_stop = StartCounterAndStop(d, sb.id(), "restartee");
    d.process.Kill(SIGKILL);
  }
  Driver d(state);
  auto s = WaitSuspended(d.stub.get(), sb.id());  // still stopped, still listed
  CHECK(s.name() == "restartee");
  REQUIRE(Start(d.stub.get(), sb.id()).ok());
  WaitReady(d.stub.get(), sb.id());
  CHECK(ReadCounter(d.process, "restartee") >= at_stop);
  REQUIRE(Delete(d.stub.get(), sb.id(), nullptr).ok());
}

TEST_CASE("stop is refused when the checkpoint cannot fit and the sandbox keeps running", "[live][checkpoint]") {
  std::string tiny = MakeTempDir("tiny");
  REQUIRE(mount("tmpfs", tiny.c_str(), "tmpfs", 0, "size=1m") == 0);
  struct Unmount {
    std::string p;
    ~Unmount() { umount2(p.c_str(), MNT_DETACH); }
  } unmount{tiny};
  Driver d("", "checkpoint_dir: " + tiny + "\n");
  auto sb = NewSandbox("cramped");
  REQUIRE(Create(d.stub.get(), sb).ok());
  WaitReady(d.stub.get(), sb.id());

  auto st = Stop(d.stub.get(), sb.id());
  CHECK(st.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
  CHECK(st.error_message().find("not enough space") != std::string::npos);
  auto s = WaitForSandbox(d.stub.get(), sb.id(), [](const pb::DriverSandbox&) { return true; });
  REQUIRE(s.has_value());
  CHECK(IsReady(*s));
  CHECK(Exec(d.process, "cramped", {"cat", "/etc/image-marker"}).exit_code == 0);
  REQUIRE(Delete(d.stub.get(), sb.id(), nullptr).ok());
}

TEST_CASE("a corrupted checkpoint is never restored: start boots cold and says so", "[live][checkpoint]") {
  Driver d;
  auto sb = NewSandbox("corrupt", kCounter);
  REQUIRE(Create(d.stub.get(), sb).ok());
  WaitReady(d.stub.get(), sb.id());
  StartCounterAndStop(d, sb.id(), "corrupt");
  std::string rid = InstanceId(d.stub.get(), sb.id());
  std::string image_dir = osgv::StateLayout{d.process.state_dir()}.checkpoint("", rid).image();
  REQUIRE(fs::exists(image_dir + "/checkpoint.img"));
  {
    std::fstream f(image_dir + "/checkpoint.img", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(image_dir + "/checkpoint.img") / 2));
    f.write("CORRUPT!", 8);
  }
  REQUIRE(Start(d.stub.get(), sb.id()).ok());
  auto s = WaitReady(d.stub.get(), sb.id());
  CHECK(ReadyCondition(s)->message().find("booted cold") != std::string::npos);
  CHECK(ReadyCondition(s)->message().find("does not match") != std::string::npos);
  // Files survive a cold boot even though memory does not.
  CHECK(Exec(d.process, "corrupt", {"cat", "/root/marker"}).out == "before-stop\n");
  REQUIRE(Delete(d.stub.get(), sb.id(), nullptr).ok());
}

TEST_CASE("an uncompressed checkpoint is verified while it restores; a corrupted page boots cold",
          "[live][checkpoint][gate]") {
  Driver d("", "checkpoint:\n  compression: none\n");
  auto sb = NewSandbox("paged", kCounter);
  REQUIRE(Create(d.stub.get(), sb).ok());
  WaitReady(d.stub.get(), sb.id());
  int at_stop = StartCounterAndStop(d, sb.id(), "paged");
  std::string rid = InstanceId(d.stub.get(), sb.id());
  std::string image_dir = osgv::StateLayout{d.process.state_dir()}.checkpoint("", rid).image();
  REQUIRE(fs::exists(image_dir + "/pages.img"));  // restored through the gate
  SECTION("intact: restored, the counter goes on") {
    REQUIRE(Start(d.stub.get(), sb.id()).ok());
    auto s = WaitReady(d.stub.get(), sb.id());
    CHECK(ReadyCondition(s)->message().find("restored") != std::string::npos);
    CHECK(ReadCounter(d.process, "paged") >= at_stop);
  }
  SECTION("one page changed: never restored") {
    {
      std::fstream f(image_dir + "/pages.img", std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(static_cast<std::streamoff>(fs::file_size(image_dir + "/pages.img") / 2));
      f.write("CORRUPT!", 8);
    }
    REQUIRE(Start(d.stub.get(), sb.id()).ok());
    auto s = WaitReady(d.stub.get(), sb.id());
    CHECK(ReadyCondition(s)->message().find("booted cold") != std::string::npos);
    CHECK(ReadyCondition(s)->message().find("pages.img does not match") != std::string::npos);
    CHECK(d.process.Log().find("restoring before its image was verified") == std::string::npos);
  }
  const osgv::StateLayout layout{d.process.state_dir()};
  CHECK_FALSE(fs::exists(layout.checkpoint("", rid).restore_view()));
  REQUIRE(Delete(d.stub.get(), sb.id(), nullptr).ok());
}

TEST_CASE("a sandbox holding an open TCP connection stops and starts", "[live][checkpoint]") {
  Driver d;
  // Both ends stay open: each nc's stdin is a pipe that never ends (busybox
  // nc closes the connection when its stdin reaches EOF).
  auto sb = NewSandbox("talker", {"/bin/sh", "-c",
                                  "(sleep 1000000 | nc -l -p 5000 > /root/received) & sleep 0.5; "
                                  "while true; do echo tick; sleep 0.2; done | nc 127.0.0.1 5000"});
  REQUIRE(Create(d.stub.get(), sb).ok());
  WaitReady(d.stub.get(), sb.id());
  REQUIRE(WaitForSandbox(d.stub.get(), sb.id(), [&](const pb::DriverSandbox&) {
    auto r = Exec(d.process, "talker", {"sh", "-c", "wc -l < /root/received"});
    return r.exit_code == 0 && std::atoi(r.out.c_str()) >= 3;
  }).has_value());
  auto st = Stop(d.stub.get(), sb.id());
  INFO(st.error_message());
  REQUIRE(st.ok());
  WaitSuspended(d.stub.get(), sb.id());
  REQUIRE(Start(d.stub.get(), sb.id()).ok());
  WaitReady(d.stub.get(), sb.id());
  CHECK(Exec(d.process, "talker", {"true"}).exit_code == 0);
  REQUIRE(Delete(d.stub.get(), sb.id(), nullptr).ok());
}

TEST_CASE("lifecycle calls on unknown or unsuitable sandboxes get clear statuses", "[live][checkpoint]") {
  Driver d;
  CHECK(Stop(d.stub.get(), "no-such-sandbox").error_code() == grpc::StatusCode::NOT_FOUND);
  CHECK(Start(d.stub.get(), "no-such-sandbox").error_code() == grpc::StatusCode::NOT_FOUND);
  CHECK(Stop(d.stub.get(), "").error_code() == grpc::StatusCode::INVALID_ARGUMENT);

  auto sb = NewSandbox("brief", {"/bin/sh", "-c", "exit 4"});
  REQUIRE(Create(d.stub.get(), sb).ok());
  REQUIRE(WaitForReadyReason(d.stub.get(), sb.id(), "ProcessExited").has_value());
  CHECK(Stop(d.stub.get(), sb.id()).error_code() == grpc::StatusCode::FAILED_PRECONDITION);
  CHECK(Start(d.stub.get(), sb.id()).error_code() == grpc::StatusCode::FAILED_PRECONDITION);
  REQUIRE(Delete(d.stub.get(), sb.id(), nullptr).ok());
}

TEST_CASE("idle suspend checkpoints an idle sandbox and not a busy one", "[live][checkpoint]") {
  Driver d("", "checkpoint:\n  idle_suspend_after: 3s\n");
  auto idle = NewSandbox("idler", kCounter);
  idle.mutable_spec()->clear_command();  // the image's Cmd: sleep
  auto busy = NewSandbox("busy", {"/bin/sh", "-c", "while :; do :; done"});
  REQUIRE(Create(d.stub.get(), idle).ok());
  REQUIRE(Create(d.stub.get(), busy).ok());
  WaitReady(d.stub.get(), idle.id());
  WaitReady(d.stub.get(), busy.id());

  auto s = WaitSuspended(d.stub.get(), idle.id());
  CHECK(SuspendedCondition(s)->message().find("without CPU use") != std::string::npos);
  auto b = WaitForSandbox(d.stub.get(), busy.id(), [](const pb::DriverSandbox&) { return true; });
  REQUIRE(b.has_value());
  CHECK(IsReady(*b));
  CHECK(SuspendedCondition(*b) == nullptr);

  // The next Start brings the suspended one back.
  REQUIRE(Start(d.stub.get(), idle.id()).ok());
  WaitReady(d.stub.get(), idle.id());
  CHECK(Exec(d.process, "idler", {"true"}).exit_code == 0);
  REQUIRE(Delete(d.stub.get(), busy.id(), nullptr).ok());
  REQUIRE(Delete(d.stub.get(), idle.id(), nullptr).ok());
}

TEST_CASE("kill -9 of the driver during stop and start leaves every sandbox consistent", "[live][checkpoint]") {
  std::string state = MakeTempDir("state");
  // Enough memory that a checkpoint takes a noticeable time to write.
  auto sb = NewSandbox("crashy", {"/bin/sh", "-c",
                                  "head -c 67108864 /dev/urandom > /root/blob; "
                                  "(head -c 67108864 /root/blob; exec sleep 1000000) | tail -c 67108864 & "
                                  "echo up > /root/up; exec sleep 1000000"});
  for (int delay_ms : {30, 150, 400}) {
    INFO("kill after " << delay_ms << " ms");
    {
      Driver d(state);
      auto existing = WaitForSandbox(d.stub.get(), sb.id(), [](const pb::DriverSandbox&) { return true; },
                                     std::chrono::seconds(1));
      if (!existing) REQUIRE(Create(d.stub.get(), sb).ok());
      auto s = WaitForSandbox(d.stub.get(), sb.id(), [](const pb::DriverSandbox& x) {
        return IsReady(x) || (SuspendedCondition(x) && SuspendedCondition(x)->status() == "True");
      });
      REQUIRE(s.has_value());
      if (!IsReady(*s)) REQUIRE(Start(d.stub.get(), sb.id()).ok());
      WaitReady(d.stub.get(), sb.id());
      REQUIRE(WaitForSandbox(d.stub.get(), sb.id(), [&](const pb::DriverSandbox&) {
        return Exec(d.process, "crashy", {"cat", "/root/up"}).exit_code == 0;
      }).has_value());
      std::thread stopper([&] { Stop(d.stub.get(), sb.id()); });
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      d.process.Kill(SIGKILL);
      stopper.join();
    }
    // A new driver finds the sandbox either running or stopped, never in
    // between, and it is usable either way.
    Driver d(state);
    auto s = WaitForSandbox(d.stub.get(), sb.id(), [](const pb::DriverSandbox& x) {
      auto* r = ReadyCondition(x);
      return IsReady(x) || (SuspendedCondition(x) && SuspendedCondition(x)->status() == "True") ||
             (r && r->reason() != "Starting");
    });
    REQUIRE(s.has_value());
    INFO("after restart: " << s->DebugString());
    if (IsReady(*s)) {
      CHECK(Exec(d.process, "crashy", {"cat", "/root/up"}).exit_code == 0);
      CHECK(RunscList(state).size() == 1);
    } else {
      REQUIRE(SuspendedCondition(*s) != nullptr);
      CHECK(RunscList(state).empty());
      // Now crash during the start instead.
      std::thread starter([&] { Start(d.stub.get(), sb.id()); });
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms / 3));
      d.process.Kill(SIGKILL);
      starter.join();
    }
  }
  Driver d(state);
  auto s = WaitForSandbox(d.stub.get(), sb.id(), [](const pb::DriverSandbox& x) {
    return IsReady(x) || (SuspendedCondition(x) && SuspendedCondition(x)->status() == "True");
  });
  REQUIRE(s.has_value());
  if (!IsReady(*s)) REQUIRE(Start(d.stub.get(), sb.id()).ok());
  WaitReady(d.stub.get(), sb.id());
  CHECK(Exec(d.process, "crashy", {"cat", "/root/up"}).exit_code == 0);
  CHECK(RunscList(state).size() == 1);
  REQUIRE(Delete(d.stub.get(), sb.id(), nullptr).ok());
  CHECK(RunscList(state).empty());
  auto mounts = RunCommand({"grep", "-c", state, "/proc/self/mountinfo"});
  CHECK(mounts.out == "0\n");
}
