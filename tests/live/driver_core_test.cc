// The driver core end to end: the real binary, real runsc, a client
// generated from our proto.
#include <grpcpp/grpcpp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "cli/health_client.h"
#include "live_support.h"

using namespace osgv::live;
namespace fs = std::filesystem;

namespace {

// Files under the state dir other than the driver's own bookkeeping.
std::vector<std::string> SandboxLeftovers(const std::string& state_dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(state_dir + "/sandboxes", ec)) {
    out.push_back(e.path().string());
  }
  return out;
}

// Connects as the current process's uid and sends the HTTP/2 preface; true
// if the server answered with anything (a SETTINGS frame), false if it
// closed the connection unserved.
bool ServerAnswers(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return false;
  }
  const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  (void)!write(fd, preface, sizeof preface - 1);
  const unsigned char settings[] = {0, 0, 0, 4, 0, 0, 0, 0, 0};
  (void)!write(fd, settings, sizeof settings);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buf[64];
  ssize_t n = read(fd, buf, sizeof buf);
  close(fd);
  return n > 0;
}

}  // namespace

TEST_CASE("capabilities and health are served on the socket", "[live]") {
  Driver d;
  grpc::ClientContext ctx;
  pb::GetCapabilitiesResponse caps;
  REQUIRE(d.stub->GetCapabilities(&ctx, {}, &caps).ok());
  CHECK(caps.driver_name() == "gvisor");
  CHECK(caps.driver_version().find("runsc 0.0~") != std::string::npos);
  CHECK_FALSE(caps.gateway_manages_lifecycle());

  auto health = osgv::CheckHealth(d.process.Channel(), "", std::chrono::seconds(10));
  REQUIRE(health.ok());
  CHECK(*health == osgv::HealthStatus::kServing);
  auto service = osgv::CheckHealth(d.process.Channel(), "openshell.compute.v1.ComputeDriver",
                                   std::chrono::seconds(10));
  REQUIRE(service.ok());
  CHECK(*service == osgv::HealthStatus::kServing);
}

TEST_CASE("a client with a uid outside the allowlist is refused even when the socket mode lets it connect", "[live]") {
  Driver d("", "socket:\n  mode: \"0666\"\n");
  // Widen the parent too so the other uid can reach the socket at all.
  chmod(fs::path(d.process.socket_path()).parent_path().c_str(), 0755);
  chmod(fs::path(d.process.socket_path()).parent_path().parent_path().c_str(), 0755);
  std::vector<std::string> health = {OSGV_DRIVER_BINARY, "ctl", "--socket", d.process.socket_path(),
                                     "--timeout", "5s", "health"};
  REQUIRE(RunCommand(health).exit_code == 0);  // root is on the allowlist
  REQUIRE(ServerAnswers(d.process.socket_path()));

  // The same client as uid 65534: the socket's mode lets it connect, the
  // peer-uid check does not let it be served.
  std::vector<std::string> as_nobody = {"setpriv", "--reuid=65534", "--regid=65534",
                                        "--clear-groups"};
  as_nobody.insert(as_nobody.end(), health.begin(), health.end());
  auto refused = RunCommand(as_nobody);
  INFO(refused.out);
  CHECK(refused.exit_code != 0);
  CHECK(d.process.Log().find("refused client uid=65534") != std::string::npos);
}

TEST_CASE("invalid creates are rejected naming the field and leave nothing behind", "[live]") {
  Driver d;
  auto bad_name = NewSandbox("Bad_Name");
  auto st = Create(d.stub.get(), bad_name);
  CHECK(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(st.error_message().find("sandbox.name") != std::string::npos);

  auto bad_env = NewSandbox("bad-env");
  (*bad_env.mutable_spec()->mutable_environment())["1BAD"] = "x";
  st = Create(d.stub.get(), bad_env);
  CHECK(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(st.error_message().find("environment") != std::string::npos);

  auto bad_mem = NewSandbox("bad-mem");
  bad_mem.mutable_spec()->mutable_template_()->mutable_resources()->set_memory_limit("lots");
  st = Create(d.stub.get(), bad_mem);
  CHECK(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(st.error_message().find("memory_limit") != std::string::npos);

  auto bad_image = NewSandbox("bad-image");
  bad_image.mutable_spec()->mutable_template_()->set_image("oci:relative/path");
  st = Create(d.stub.get(), bad_image);
  CHECK(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(st.error_message().find("template.image") != std::string::npos);

  // A request may not make the driver read host paths as an image: only
  // under images.oci_roots (/tmp here), and never its own state.
  auto host_dir = NewSandbox("host-dir");
  host_dir.mutable_spec()->mutable_template_()->set_image("oci:/etc");
  st = Create(d.stub.get(), host_dir);
  CHECK(st.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
  CHECK(st.error_message().find("images.oci_roots") != std::string::npos);
  auto own_state = NewSandbox("own-state");
  own_state.mutable_spec()->mutable_template_()->set_image("oci:" + d.process.state_dir() +
                                                          "/sandboxes/x/upper:v1");
  st = Create(d.stub.get(), own_state);
  CHECK(st.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
  CHECK(st.error_message().find("inside the driver's own state") != std::string::npos);

  grpc::ClientContext ctx;
  pb::ListSandboxesResponse list;
  REQUIRE(d.stub->ListSandboxes(&ctx, {}, &list).ok());
  CHECK(list.sandboxes_size() == 0);
  CHECK(SandboxLeftovers(d.process.state_dir()).empty());
  CHECK(RunscList(d.process.state_dir()).empty());
}

TEST_CASE("create returns before Ready - Watch shows Starting then Ready - delete ends with a deleted event", "[live]") {
  Driver d;
  auto channel = d.process.Channel();
  auto watch_stub = pb::ComputeDriver::NewStub(channel);
  grpc::ClientContext wctx;
  auto reader = watch_stub->WatchSandboxes(&wctx, pb::WatchSandboxesRequest());

  std::mutex mu;
  std::vector<pb::WatchSandboxesEvent> events;
  std::thread collector([&] {
    pb::WatchSandboxesEvent ev;
    while (reader->Read(&ev)) {
      std::lock_guard<std::mutex> l(mu);
      events.push_back(ev);
    }
  });
  // A failed REQUIRE must not leave the reader thread running.
  struct StopCollector {
    grpc::ClientContext& ctx;
    std::thread& t;
    ~StopCollector() {
      ctx.TryCancel();
      if (t.joinable()) t.join();
    }
  } stop_collector{wctx, collector};

  auto sb = NewSandbox("watched");
  auto t0 = std::chrono::steady_clock::now();
  REQUIRE(Create(d.stub.get(), sb).ok());
  auto create_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now() - t0)
                       .count();
  {
    grpc::ClientContext ctx;
    pb::GetSandboxRequest req;
    req.set_sandbox_id(sb.id());
    pb::GetSandboxResponse resp;
    REQUIRE(d.stub->GetSandbox(&ctx, req, &resp).ok());
    INFO("create took " << create_ms << " ms");
    // Provisioning runs in the background: create answered first.
    CHECK(create_ms < 2000);
  }
  WaitReady(d.stub.get(), sb.id());

  bool deleted = false;
  REQUIRE(Delete(d.stub.get(), sb.id(), &deleted).ok());
  CHECK(deleted);

  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool saw_deleted = false;
  while (!saw_deleted && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::lock_guard<std::mutex> l(mu);
    for (const auto& e : events) saw_deleted |= e.has_deleted() && e.deleted().sandbox_id() == sb.id();
  }
  wctx.TryCancel();
  if (collector.joinable()) collector.join();

  bool saw_starting = false, saw_ready_after_starting = false, saw_progress = false;
  for (const auto& e : events) {
    if (e.has_sandbox() && e.sandbox().sandbox().id() == sb.id()) {
      CHECK(e.sandbox().sandbox().name() == "watched");
      CHECK_FALSE(e.sandbox().sandbox().has_spec());
      auto* c = ReadyCondition(e.sandbox().sandbox());
      REQUIRE(c != nullptr);
      if (c->status() == "False" && c->reason() == "Starting") saw_starting = true;
      if (c->status() == "True" && saw_starting) saw_ready_after_starting = true;
    }
    if (e.has_platform_event() &&
        e.platform_event().event().metadata().count("openshell.progress.active_step")) {
      saw_progress = true;
    }
  }
  CHECK(saw_starting);
  CHECK(saw_ready_after_starting);
  CHECK(saw_progress);
  CHECK(saw_deleted);

  grpc::ClientContext gctx;
  pb::GetSandboxRequest greq;
  greq.set_sandbox_id(sb.id());
  pb::GetSandboxResponse gresp;
  CHECK(d.stub->GetSandbox(&gctx, greq, &gresp).error_code() == grpc::StatusCode::NOT_FOUND);
  CHECK(SandboxLeftovers(d.process.state_dir()).empty());
  CHECK(RunscList(d.process.state_dir()).empty());

  bool again = true;
  REQUIRE(Delete(d.stub.get(), sb.id(), &again).ok());
  CHECK_FALSE(again);  // a second delete is harmless
}

TEST_CASE("exec sees the image's files and the merged environment - not the host's", "[live]") {
  Driver d;
  auto sb = NewSandbox("looker");
  (*sb.mutable_spec()->mutable_template_()->mutable_environment())["OVERRIDDEN"] = "template";
  (*sb.mutable_spec()->mutable_template_()->mutable_environment())["TEMPLATE_ONLY"] = "template";
  (*sb.mutable_spec()->mutable_environment())["OVERRIDDEN"] = "spec";
  REQUIRE(Create(d.stub.get(), sb).ok());
  WaitReady(d.stub.get(), sb.id());

  auto passwd = Exec(d.process, "looker", {"cat", "/etc/passwd"});
  CHECK(passwd.exit_code == 0);
  CHECK(passwd.out.find("osgvtester:x:4242") != std::string::npos);
  std::ifstream host("/etc/passwd");
  std::string first_host_line;
  std::getline(host, first_host_line);
  CHECK(passwd.out.find("daemon:") == std::string::npos);

  auto env = Exec(d.process, sb.id(), {"cat", "/proc/1/environ"});
  CHECK(env.exit_code == 0);
  CHECK(env.out.find("OVERRIDDEN=spec") != std::string::npos);
  CHECK(env.out.find("TEMPLATE_ONLY=template") != std::string::npos);
  CHECK(env.out.find("IMAGE_ONLY=image") != std::string::npos);

  auto host_name = Exec(d.process, "looker", {"hostname"});
  CHECK(host_name.out == "looker\n");
  auto code = Exec(d.process, "looker", {"sh", "-c", "exit 7"});
  CHECK(code.exit_code == 7);

  REQUIRE(Delete(d.stub.get(), sb.id(), nullptr).ok());
}

TEST_CASE("duplicate id or name is ALREADY_EXISTS - list and get report the sandbox", "[live]") {
  Driver d;
  auto sb = NewSandbox("dup");
  REQUIRE(Create(d.stub.get(), sb).ok());
  CHECK(Create(d.stub.get(), sb).error_code() == grpc::StatusCode::ALREADY_EXISTS);
  auto same_name = NewSandbox("dup");
  CHECK(Create(d.stub.get(), same_name).error_code() == grpc::StatusCode::ALREADY_EXISTS);

  grpc::ClientContext ctx;
  pb::ListSandboxesResponse list;
  REQUIRE(d.stub->ListSandboxes(&ctx, {}, &list).ok());
  REQUIRE(list.sandboxes_size() == 1);
  CHECK(list.sandboxes(0).id() == sb.id());
  CHECK(list.sandboxes(0).name() == "dup");
  CHECK(list.sandboxes(0).status().name() == "dup");
  CHECK_FALSE(list.sandboxes(0).status().instance_id().empty());
  WaitReady(d.stub.get(), sb.id());
  REQUIRE(Delete(d.stub.get(), sb.id(), nullptr).ok());
}

TEST_CASE("a main process that exits is terminal: ProcessExited with its code", "[live]") {
  Driver d;
  auto sb = NewSandbox("quitter", {"/bin/sh", "-c", "sleep 1; exit 3"});
  REQUIRE(Create(d.stub.get(), sb).ok());
  auto s = WaitForReadyReason(d.stub.get(), sb.id(), "ProcessExited");
  REQUIRE(s.has_value());
  auto* c = ReadyCondition(*s);
  CHECK(c->status() == "False");
  CHECK(c->message().find("code 3") != std::string::npos);
  REQUIRE(Delete(d.stub.get(), sb.id(), nullptr).ok());
  CHECK(RunscList(d.process.state_dir()).empty());
}

TEST_CASE("kill -9 of the driver leaves the sandbox running and a restart re-adopts it", "[live]") {
  std::string state = MakeTempDir("state");
  std::string id;
  std::string socket;
  {
    Driver d(state);
    auto sb = NewSandbox("survivor", {"/bin/sh", "-c", "echo $$ > /tmp/pid; exec sleep 100000"});
    id = sb.id();
    REQUIRE(Create(d.stub.get(), sb).ok());
    WaitReady(d.stub.get(), id);
    d.process.Kill(SIGKILL);
  }
  // With the driver dead, the sandbox still answers.
  DriverProcess probe(state);
  auto alive = Exec(probe, "survivor", {"cat", "/etc/image-marker"});
  CHECK(alive.exit_code == 0);
  CHECK(alive.out == "from-the-busybox-image\n");

  Driver again(state);
  auto s = WaitForSandbox(again.stub.get(), id, [](const pb::DriverSandbox&) { return true; });
  REQUIRE(s.has_value());
  CHECK(IsReady(*s));
  auto still = Exec(again.process, "survivor", {"cat", "/tmp/pid"});
  CHECK(still.exit_code == 0);  // same sandbox: its tmpfs file is still there
  CHECK(again.process.Log().find("re-adopted") != std::string::npos);

  // The re-adopted sandbox's exit is still observed.
  CHECK(Exec(again.process, "survivor", {"sh", "-c", "kill -9 1"}).exit_code >= 0);
  auto exited = WaitForReadyReason(again.stub.get(), id, "ProcessExited");
  CHECK(exited.has_value());
  REQUIRE(Delete(again.stub.get(), id, nullptr).ok());
  CHECK(RunscList(state).empty());
}

TEST_CASE("SIGTERM ends watch streams cleanly - exits 0 and leaves sandboxes running", "[live]") {
  std::string state = MakeTempDir("state");
  std::string id;
  {
    Driver d(state);
    auto sb = NewSandbox("keeper");
    id = sb.id();
    REQUIRE(Create(d.stub.get(), sb).ok());
    WaitReady(d.stub.get(), id);
    grpc::ClientContext wctx;
    auto reader = d.stub->WatchSandboxes(&wctx, pb::WatchSandboxesRequest());
    pb::WatchSandboxesEvent ev;
    REQUIRE(reader->Read(&ev));  // initial snapshot
    kill(d.process.pid(), SIGTERM);
    while (reader->Read(&ev)) {
    }
    CHECK(reader->Finish().ok());
    int status = d.process.Wait();
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  auto ids = RunscList(state);
  CHECK(ids.size() == 1);
  Driver again(state);
  REQUIRE(Delete(again.stub.get(), id, nullptr).ok());
}
