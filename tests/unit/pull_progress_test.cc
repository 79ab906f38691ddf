#include "lifecycle/image/pull_progress.h"

#include <catch2/catch.hpp>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include "lifecycle/image/oci_layout.h"
#include "unit/temp_dir.h"

namespace osgv {
namespace {

const std::string kA = "sha256:" + std::string(64, 'a');
const std::string kB = "sha256:" + std::string(64, 'b');

std::string Manifest() {
  return R"({"schemaVersion":2,"config":{"digest":"sha256:)" + std::string(64, 'c') +
         R"(","size":10},"layers":[{"digest":")" + kA + R"(","size":1000},{"digest":")" + kB +
         R"(","size":24}]})";
}

absl::StatusOr<std::string> NoFetch(const std::string& digest) {
  FAIL("unexpected fetch of " << digest);
  return absl::InternalError("unexpected");
}

TEST_CASE("ManifestLayers lists the layers with their sizes", "[image][progress]") {
  auto layers = ManifestLayers(Manifest(), NoFetch);
  REQUIRE(layers.ok());
  REQUIRE(layers->size() == 2);
  CHECK((*layers)[0].digest == kA);
  CHECK((*layers)[0].size == 1000);
  CHECK((*layers)[1].size == 24);
  CHECK_FALSE(ManifestLayers("[]", NoFetch).ok());
  CHECK_FALSE(ManifestLayers(R"({"layers":[{"size":1}]})", NoFetch).ok());
}

TEST_CASE("ManifestLayers picks this host's manifest from an index", "[image][progress]") {
  const std::string host = std::string("sha256:") + std::string(64, 'd');
  const std::string other = std::string("sha256:") + std::string(64, 'e');
  const std::string foreign_arch = std::string(HostArchitecture()) == "s390x" ? "arm64" : "s390x";
  std::string index = R"({"schemaVersion":2,"manifests":[)"
                      R"({"digest":")" + other + R"(","size":1,"platform":{"os":"linux","architecture":")" +
                      foreign_arch + R"("}},)"
                      R"({"digest":")" + host + R"(","size":1,"platform":{"os":"linux","architecture":")" +
                      HostArchitecture() + R"("}}]})";
  std::vector<std::string> fetched;
  auto layers = ManifestLayers(index, [&](const std::string& digest) -> absl::StatusOr<std::string> {
    fetched.push_back(digest);
    return Manifest();
  });
  REQUIRE(layers.ok());
  CHECK(fetched == std::vector<std::string>{host});
  CHECK(layers->size() == 2);

  std::string only_foreign = R"({"manifests":[{"digest":")" + other +
                             R"(","size":1,"platform":{"os":"linux","architecture":")" +
                             foreign_arch + R"("}}]})";
  auto none = ManifestLayers(only_foreign, NoFetch);
  CHECK(none.status().code() == absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("LayersPresent counts the blobs that have arrived", "[image][progress]") {
  testing::TempDir dir;
  std::vector<LayerSize> layers = {{kA, 1000}, {kB, 24}};
  ImageProgress p = LayersPresent(layers, dir.path());
  CHECK(p.pulling);
  CHECK(p.layers_done == 0);
  CHECK(p.layers_total == 2);
  CHECK(p.bytes_total == 1024);
  std::ofstream(dir.path() + "/" + std::string(64, 'b')) << "x";
  p = LayersPresent(layers, dir.path());
  CHECK(p.layers_done == 1);
  CHECK(p.bytes_done == 24);
}

TEST_CASE("PullProgressWatcher reports arrivals of a long pull and a final state",
          "[image][progress]") {
  testing::TempDir dir;
  std::mutex mu;
  std::vector<ImageProgress> reports;
  std::atomic<int> remote_fetches{0};
  auto count = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return reports.size();
  };
  {
    PullProgressWatcher watcher(
        dir.path(),
        [&] {
          ++remote_fetches;
          return absl::StatusOr<std::vector<LayerSize>>({{kA, 1000}, {kB, 24}});
        },
        [&](const ImageProgress& p) {
          std::lock_guard<std::mutex> lock(mu);
          reports.push_back(p);
        },
        std::chrono::milliseconds(5), std::chrono::milliseconds(20));
    for (int i = 0; i < 200 && count() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    REQUIRE(count() == 1);  // past the quiet period: nothing arrived yet
    std::ofstream(dir.path() + "/" + std::string(64, 'a')) << "x";
    for (int i = 0; i < 200 && count() == 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::ofstream(dir.path() + "/" + std::string(64, 'b')) << "x";
    watcher.Finish({{kA, 1000}, {kB, 24}});
  }
  CHECK(remote_fetches == 1);
  REQUIRE(reports.size() >= 3);
  CHECK(reports.front().layers_done == 0);
  CHECK(reports.front().bytes_total == 1024);
  CHECK(reports[1].layers_done == 1);
  CHECK(reports.back().layers_done == 2);
  CHECK(reports.back().bytes_done == 1024);
  for (size_t i = 1; i < reports.size(); ++i) {
    CHECK(reports[i].layers_done >= reports[i - 1].layers_done);
  }
}

TEST_CASE("PullProgressWatcher asks the registry nothing for a short pull", "[image][progress]") {
  testing::TempDir dir;
  std::vector<ImageProgress> reports;
  int remote_fetches = 0;
  std::ofstream(dir.path() + "/" + std::string(64, 'a')) << "x";
  {
    PullProgressWatcher watcher(
        dir.path(),
        [&] {
          ++remote_fetches;
          return absl::StatusOr<std::vector<LayerSize>>(absl::UnavailableError("x"));
        },
        [&](const ImageProgress& p) { reports.push_back(p); });
    watcher.Finish({{kA, 1000}});
  }
  CHECK(remote_fetches == 0);
  REQUIRE(reports.size() == 1);  // the final one, from the pulled manifest
  CHECK(reports[0].pulling);
  CHECK(reports[0].layers_done == 1);
  CHECK(reports[0].layers_total == 1);
}

TEST_CASE("PullProgressWatcher says nothing when abandoned", "[image][progress]") {
  testing::TempDir dir;
  int reports = 0;
  {
    PullProgressWatcher watcher(
        dir.path(), [] { return absl::StatusOr<std::vector<LayerSize>>({{kA, 1000}}); },
        [&](const ImageProgress&) { ++reports; }, std::chrono::milliseconds(5),
        std::chrono::milliseconds(0));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }  // a failed pull: destroyed without Finish
  CHECK(reports == 1);  // the one arrival report before; no final state
}

}  // namespace
}  // namespace osgv
