// A failed durable commit is never ignored: the operation that made it
// fails with it, the manager latches it as its background error (health
// NOT_SERVING through DriverHealth, no more changes), and recovery that
// cannot write a record fails. The store behind the manager is a
// FailingStore over the real one.
#include <grpcpp/health_check_service_interface.h>

#include <catch2/catch.hpp>
#include <map>
#include <mutex>
#include <string>

#include "driver/driver_health.h"
#include "unit/gate.h"
#include "unit/manager_fixture.h"

namespace osgv {
namespace {

using namespace osgv::testing;  // NOLINT: fixture builders read as a DSL
using Fixture = ManagerFixture;

// The standard health service's view: the last status per service name.
class FakeHealthService : public grpc::HealthCheckServiceInterface {
 public:
  void SetServingStatus(const std::string& service, bool serving) override {
    std::lock_guard<std::mutex> lock(mu_);
    status_[service] = serving;
  }
  void SetServingStatus(bool serving) override { SetServingStatus("", serving); }
  // nullopt until set.
  std::optional<bool> Serving(const std::string& service) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = status_.find(service);
    return it == status_.end() ? std::nullopt : std::optional<bool>(it->second);
  }

 private:
  std::mutex mu_;
  std::map<std::string, bool> status_;
};

absl::Status DiskError() { return absl::DataLossError("disk I/O error"); }

TEST_CASE("DriverHealth: SERVING only when ready and no background error", "[health]") {
  FakeHealthService service;
  DriverHealth health(&service, "svc");
  CHECK(service.Serving("") == false);
  CHECK(service.Serving("svc") == false);
  health.SetReady(true);
  CHECK(service.Serving("") == true);
  CHECK(service.Serving("svc") == true);
  health.SetBackgroundError(DiskError());
  CHECK(service.Serving("svc") == false);
  health.SetReady(true);  // latched: recovery or a later call cannot undo it
  CHECK(service.Serving("") == false);
  CHECK_FALSE(health.serving());
}

TEST_CASE("Commit: a failed commit of an exit is latched; health turns NOT_SERVING",
          "[manager][commit]") {
  Fixture f;
  FailingStore& store = f.FaultyStore();
  FakeHealthService service;
  DriverHealth health(&service, "svc");
  health.SetReady(true);
  Gate latched;
  f.M().OnBackgroundError([&](const absl::Status& e) {
    health.SetBackgroundError(e);
    latched.Open();
  });
  const std::string rid = f.CreateRunning("sb-1", "alpha");
  REQUIRE(service.Serving("svc") == true);

  store.FailUpdates(DiskError());
  f.launcher.Exit(rid, 3);  // the exit handler cannot record `exited`
  REQUIRE(latched.Wait());
  CHECK(service.Serving("svc") == false);
  auto bg = f.M().BackgroundError();
  CHECK(absl::IsDataLoss(bg));
  CHECK_THAT(Msg(bg), Catch::Contains("sb-1") && Catch::Contains("exited") &&
                          Catch::Contains("disk I/O error"));
  // Memory stays what the store holds: what a restart would find.
  CHECK(f.Snap("sb-1").phase == phase::kRunning);
  CHECK(f.Phase("sb-1") == phase::kRunning);
  // No more changes until a restart.
  auto create = f.M().Create(f.Req("sb-2", "beta"));
  CHECK(absl::IsUnavailable(create));
  CHECK_THAT(Msg(create), Catch::Contains("disk I/O error"));
  CHECK(absl::IsUnavailable(f.M().Stop("sb-1", "")));
  CHECK(absl::IsUnavailable(f.M().Delete("sb-1", "").status()));
}

TEST_CASE("Commit: a Stop whose roll-back cannot be stored answers with that failure",
          "[manager][commit]") {
  Fixture f;
  FailingStore& store = f.FaultyStore();
  const std::string rid = f.CreateRunning("sb-1", "alpha");
  f.ScriptCheckpointFails("checkpoint: boom");
  // The sandbox is still up after the failed checkpoint.
  f.runner.Script("state",
                  FakeRunner::Ok(HookedRunner::StateJson(rid, "running", f.launcher.PidOf(rid))));
  store.FailUpdates(DiskError(), [](const SandboxRecord& r) { return r.phase == phase::kRunning; });

  auto st = f.M().Stop("sb-1", "");
  CHECK(absl::IsDataLoss(st));
  CHECK_THAT(Msg(st), Catch::Contains("cannot persist phase running"));
  CHECK(store.failed() == 1);
  CHECK_FALSE(f.M().BackgroundError().ok());
  CHECK(f.Phase("sb-1") == phase::kStopping);  // recovery decides, at the next start
}

TEST_CASE("Commit: recovery that cannot store a record fails", "[manager][commit]") {
  Fixture f;
  auto r = f.Prefill("sb-1", "alpha", phase::kRunning);  // its container is gone
  f.FaultyStore().FailUpdates(DiskError());
  auto st = f.M().Recover();
  CHECK(absl::IsDataLoss(st));
  CHECK_THAT(Msg(st), Catch::Contains("cannot persist phase failed"));
  CHECK(f.Phase("sb-1") == phase::kRunning);
}

}  // namespace
}  // namespace osgv
