// The checkpoint disk gauges: read at each refresh (each scrape), kept
// when the filesystem cannot be read.
#include "metrics/checkpoint_disk.h"

#include <catch2/catch.hpp>

#include "unit/metrics_reader.h"
#include "unit/temp_dir.h"

namespace osgv {
namespace {

using namespace osgv::testing;  // NOLINT

TEST_CASE("CheckpointDiskMetrics reads free and total bytes at each refresh", "[metrics]") {
  prometheus::Registry registry;
  absl::StatusOr<DiskSpace> space = DiskSpace{100, 1000};
  std::string asked;
  CheckpointDiskMetrics disk(registry, "/ckpt", [&](const std::string& dir) {
    asked = dir;
    return space;
  });
  disk.Refresh();
  CHECK(asked == "/ckpt");
  CHECK(SampleValue(registry, "osgv_checkpoint_disk_free_bytes") == 100);
  CHECK(SampleValue(registry, "osgv_checkpoint_disk_size_bytes") == 1000);
  space = DiskSpace{40, 1000};
  disk.Refresh();
  CHECK(SampleValue(registry, "osgv_checkpoint_disk_free_bytes") == 40);
  space = absl::PermissionDeniedError("statvfs /ckpt");
  disk.Refresh();  // keeps the last reading
  CHECK(SampleValue(registry, "osgv_checkpoint_disk_free_bytes") == 40);
}

TEST_CASE("StatDiskSpace of a dir not made yet is its parent's filesystem", "[metrics]") {
  TempDir tmp;
  auto parent = StatDiskSpace(tmp.path());
  REQUIRE(parent.ok());
  CHECK(parent->size_bytes > 0);
  CHECK(parent->free_bytes <= parent->size_bytes);
  auto missing = StatDiskSpace(tmp.path() + "/checkpoints/not/yet");
  REQUIRE(missing.ok());
  CHECK(missing->size_bytes == parent->size_bytes);
}

}  // namespace
}  // namespace osgv
