// The property RestoreGate (src/lifecycle/checkpoint/restore_gate.h) rests
// on, shown on the installed runsc: a restore through a gate whose verdict
// is held back neither returns nor runs any restored code, and one whose
// verdict is a mismatch fails without running any. The sandbox is raw
// runsc (its own root, bundle from umoci), so the test controls the
// verdict; Start through the driver with the real verifier is the unit
// tests' and checkpoint_test's business.
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "lifecycle/checkpoint/checkpoint_image.h"
#include "lifecycle/checkpoint/restore_gate.h"
#include "live_support.h"

using namespace osgv::live;
namespace fs = std::filesystem;
using std::chrono::milliseconds;

namespace {

// A raw runsc container whose shell loop appends to /counter in its
// writable root, which the host reads directly.
struct RawCounter {
  std::string dir = MakeTempDir("gate");
  std::string root = dir + "/runsc-root";
  std::string bundle = dir + "/bundle";
  std::string id;

  RawCounter() {
    std::mt19937_64 rng(std::random_device{}());
    id = "osgv-gate-" + std::to_string(rng() % 1000000000);
    fs::create_directories(root);
    auto r = RunCommand({"umoci", "unpack", "--image", BusyboxImage().substr(4), bundle});
    REQUIRE(r.exit_code == 0);
    nlohmann::json spec = nlohmann::json::parse(std::ifstream(bundle + "/config.json"));
    spec["process"]["args"] = {"/bin/sh", "-c",
                               "i=0; while true; do i=$((i+1)); echo $i >> /counter; sleep 0.05; done"};
    spec["process"]["terminal"] = false;
    spec["root"]["readonly"] = false;
    auto namespaces = nlohmann::json::array();
    for (const auto& ns : spec["linux"]["namespaces"]) {
      if (ns.value("type", "") != "network") namespaces.push_back(ns);
    }
    spec["linux"]["namespaces"] = namespaces;
    std::ofstream(bundle + "/config.json") << spec.dump(2);
  }
  ~RawCounter() { Runsc({"delete", "--force", id}); }

  CommandOutput Runsc(std::vector<std::string> args) const {
    std::vector<std::string> argv = {"runsc", "--root", root, "--network=none", "--overlay2=none",
                                     "--platform=systrap"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv);
  }
  // Lines in /counter so far.
  size_t Count() const {
    std::ifstream f(bundle + "/rootfs/counter");
    size_t n = 0;
    for (std::string line; std::getline(f, line);) ++n;
    return n;
  }
  bool WaitCount(size_t at_least, milliseconds timeout = milliseconds(20000)) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (Count() < at_least) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(milliseconds(50));
    }
    return true;
  }
};

// The verdict, held until the test gives it.
struct HeldVerdict {
  std::promise<absl::Status> promise;
  std::shared_future<absl::Status> future = promise.get_future().share();
  osgv::RestoreGate::Verifier verifier() {
    auto f = future;
    return [f](const osgv::CheckpointImage&) { return f.get(); };
  }
};

}  // namespace

TEST_CASE("Start: a restore does not finish before its image is verified",
          "[live][checkpoint][gate]") {
  RawCounter c;
  auto run = c.Runsc({"run", "--detach", "--bundle", c.bundle, c.id});
  INFO(run.out);
  REQUIRE(run.exit_code == 0);
  REQUIRE(c.WaitCount(5));
  std::string staging = c.dir + "/tmp-image";
  auto cp = c.Runsc({"checkpoint", "--compression=none", "--image-path=" + staging, c.id});
  INFO(cp.out);
  REQUIRE(cp.exit_code == 0);
  c.Runsc({"delete", "--force", c.id});
  osgv::CheckpointImage sealed;
  sealed.compression = "none";
  auto image = osgv::SealCheckpoint(staging, c.dir + "/image", sealed);
  REQUIRE(image.ok());
  REQUIRE(osgv::RestoreGate::Applies(*image));
  const size_t at_checkpoint = c.Count();

  SECTION("held, then a match") {
    HeldVerdict verdict;
    auto gate = osgv::RestoreGate::Open(*image, c.dir + "/view", verdict.verifier());
    REQUIRE(gate.ok());
    auto restore = std::async(std::launch::async, [&] {
      return c.Runsc({"restore", "--detach", "--bundle", c.bundle,
                      "--image-path=" + (*gate)->dir(), c.id});
    });
    // Long enough for runsc to have read everything it can: the restore
    // of this idle sandbox takes a few hundred ms unhindered.
    CHECK(restore.wait_for(std::chrono::seconds(3)) == std::future_status::timeout);
    CHECK(c.Count() == at_checkpoint);  // no restored code has run

    verdict.promise.set_value(absl::OkStatus());
    auto done = restore.get();
    INFO(done.out);
    CHECK(done.exit_code == 0);
    CHECK((*gate)->released());
    CHECK(c.WaitCount(at_checkpoint + 5));  // and now it runs
  }
  SECTION("a mismatch") {
    HeldVerdict verdict;
    auto gate = osgv::RestoreGate::Open(*image, c.dir + "/view", verdict.verifier());
    REQUIRE(gate.ok());
    auto restore = std::async(std::launch::async, [&] {
      return c.Runsc({"restore", "--detach", "--bundle", c.bundle,
                      "--image-path=" + (*gate)->dir(), c.id});
    });
    std::this_thread::sleep_for(milliseconds(1000));  // runsc waits on the last byte
    verdict.promise.set_value(absl::DataLossError("pages.img does not match"));
    auto done = restore.get();
    INFO(done.out);
    CHECK(done.exit_code != 0);
    CHECK_FALSE((*gate)->released());
    std::this_thread::sleep_for(milliseconds(500));
    CHECK(c.Count() == at_checkpoint);  // nothing restored ever ran
  }
}
