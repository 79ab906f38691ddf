// Waiting for start-up recovery: unary RPCs wait on their pool thread,
// bounded; a WatchSandboxes stream opened meanwhile holds no gRPC thread and
// begins when recovery ends, or ends with UNAVAILABLE / DEADLINE_EXCEEDED
// when its limit passes first (docs/lifecycle.md, "Crash recovery"). The
// service runs on an in-process gRPC server over the manager's fakes.
#include <grpcpp/grpcpp.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "compute_driver.grpc.pb.h"
#include "driver/compute_driver_service.h"
#include "driver/readiness.h"
#include "unit/gate.h"
#include "unit/manager_fixture.h"

namespace osgv {
namespace {

using namespace osgv::testing;  // NOLINT: fixture builders read as a DSL
namespace pbv = ::openshell::compute::v1;

// Long enough never to pass while a test runs, unless it is the point.
constexpr auto kForever = std::chrono::minutes(10);
// For the tests in which the limit has to pass.
constexpr auto kShortWait = std::chrono::milliseconds(200);

Deadline In(std::chrono::milliseconds d) { return std::chrono::system_clock::now() + d; }

// A continuation's answer, delivered on whichever thread runs it.
struct Answer {
  Gate arrived;
  std::mutex mu;
  grpc::Status status;

  Readiness::Continuation Keep() {
    return [this](const grpc::Status& s) {
      {
        std::lock_guard<std::mutex> lock(mu);
        status = s;
      }
      arrived.Open();
    };
  }
  grpc::Status Get() {
    std::lock_guard<std::mutex> lock(mu);
    return status;
  }
};

TEST_CASE("Readiness: a continuation runs when ready, once, never before", "[service][watch]") {
  Readiness readiness(kForever);
  Answer early;
  readiness.WhenReady(kNoDeadline, early.Keep());
  CHECK_FALSE(early.arrived.is_open());
  CHECK(readiness.pending() == 1);

  readiness.SetReady();  // runs it on this thread
  REQUIRE(early.arrived.is_open());
  CHECK(early.Get().ok());
  CHECK(readiness.pending() == 0);

  Answer late;
  readiness.WhenReady(kNoDeadline, late.Keep());  // ready already: at once
  REQUIRE(late.arrived.is_open());
  CHECK(late.Get().ok());
  CHECK(readiness.Await(kNoDeadline).ok());
}

TEST_CASE("Readiness: the call's deadline or the bound ends the wait first", "[service][watch]") {
  SECTION("the deadline: DEADLINE_EXCEEDED") {
    Readiness readiness(kForever);
    Answer a;
    readiness.WhenReady(In(kShortWait), a.Keep());
    REQUIRE(a.arrived.Wait());
    CHECK(a.Get().error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
    CHECK_THAT(a.Get().error_message(), Catch::Contains("still recovering"));
    CHECK(readiness.pending() == 0);
    CHECK(readiness.Await(In(kShortWait)).error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
    readiness.SetReady();  // nothing left to run
  }
  SECTION("the bound: UNAVAILABLE") {
    Readiness readiness(kShortWait);
    Answer a;
    readiness.WhenReady(kNoDeadline, a.Keep());
    REQUIRE(a.arrived.Wait());
    CHECK(a.Get().error_code() == grpc::StatusCode::UNAVAILABLE);
    CHECK_THAT(a.Get().error_message(), Catch::Contains("still recovering"));
    CHECK(readiness.Await(kNoDeadline).error_code() == grpc::StatusCode::UNAVAILABLE);
  }
}

// The rest runs the service on an in-process gRPC server. Not under
// ThreadSanitizer: Debian's libgrpc is not instrumented, so every object it
// hands from one of its threads to another is reported as a race (hundreds
// per run, none in our code); Readiness, above, is what these tests add to
// the threading, and TSan checks it.
#if !defined(__SANITIZE_THREAD__)

// The driver's service on an in-process server, not yet ready.
struct Served {
  explicit Served(ManagerFixture& f, std::chrono::milliseconds recovery_wait = kForever)
      : service(&f.M(), DriverCapabilities{}, recovery_wait) {
    grpc::ServerBuilder builder;
    builder.RegisterService(&service);
    server = builder.BuildAndStart();
    REQUIRE(server);
    stub = pbv::ComputeDriver::NewStub(server->InProcessChannel(grpc::ChannelArguments()));
  }
  ~Served() { server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5)); }

  ComputeDriverService service;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<pbv::ComputeDriver::Stub> stub;
};

TEST_CASE("Watch: opened during recovery, it holds no thread and begins when recovery ends",
          "[service][watch]") {
  ManagerFixture f;
  f.CreateRunning("sb-1", "alpha");
  Served s(f);

  grpc::ClientContext first_ctx;
  grpc::ClientContext second_ctx;
  auto first = s.stub->WatchSandboxes(&first_ctx, pbv::WatchSandboxesRequest());
  auto second = s.stub->WatchSandboxes(&second_ctx, pbv::WatchSandboxesRequest());
  // Both handlers have returned, each leaving a continuation: a handler
  // that waited for recovery would still be inside WatchSandboxes.
  REQUIRE(Eventually([&] { return s.service.pending_watches() == 2; }));

  s.service.SetReady();
  for (auto* reader : {first.get(), second.get()}) {
    pbv::WatchSandboxesEvent event;
    REQUIRE(reader->Read(&event));
    CHECK(event.sandbox().sandbox().id() == "sb-1");
  }
  CHECK(s.service.pending_watches() == 0);
  first_ctx.TryCancel();
  second_ctx.TryCancel();
  CHECK(first->Finish().error_code() == grpc::StatusCode::CANCELLED);
  CHECK(second->Finish().error_code() == grpc::StatusCode::CANCELLED);
}

TEST_CASE("Watch: recovery outlasting the wait ends the stream with UNAVAILABLE",
          "[service][watch]") {
  ManagerFixture f;
  Served s(f, kShortWait);
  grpc::ClientContext ctx;
  auto reader = s.stub->WatchSandboxes(&ctx, pbv::WatchSandboxesRequest());
  pbv::WatchSandboxesEvent event;
  CHECK_FALSE(reader->Read(&event));
  auto st = reader->Finish();
  CHECK(st.error_code() == grpc::StatusCode::UNAVAILABLE);
  CHECK_THAT(st.error_message(), Catch::Contains("still recovering"));
}

TEST_CASE("Watch: a client gone while it waits for recovery leaves nothing behind",
          "[service][watch]") {
  ManagerFixture f;
  f.CreateRunning("sb-1", "alpha");
  Served s(f);
  {
    grpc::ClientContext ctx;
    auto reader = s.stub->WatchSandboxes(&ctx, pbv::WatchSandboxesRequest());
    REQUIRE(Eventually([&] { return s.service.pending_watches() == 1; }));
    ctx.TryCancel();
    CHECK(reader->Finish().error_code() == grpc::StatusCode::CANCELLED);
  }
  s.service.SetReady();  // the continuation finds its stream gone
  // A watch opened now is served as usual.
  grpc::ClientContext ctx;
  auto reader = s.stub->WatchSandboxes(&ctx, pbv::WatchSandboxesRequest());
  pbv::WatchSandboxesEvent event;
  REQUIRE(reader->Read(&event));
  CHECK(event.sandbox().sandbox().id() == "sb-1");
  ctx.TryCancel();
  reader->Finish();
}

#endif  // !defined(__SANITIZE_THREAD__)

}  // namespace
}  // namespace osgv
