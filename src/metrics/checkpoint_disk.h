// Free and total bytes of the filesystem that holds the checkpoint
// directory, read when Prometheus scrapes: a Stop needs about the
// sandbox's memory there, and is refused when it is not free.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace osgv {

struct DiskSpace {
  uint64_t free_bytes = 0;  // available to unprivileged writers too (f_bavail)
  uint64_t size_bytes = 0;
};

// statvfs of `dir`, or of its nearest existing parent while it does not
// exist yet (the driver creates it at the first Stop).
absl::StatusOr<DiskSpace> StatDiskSpace(const std::string& dir);

// osgv_checkpoint_disk_free_bytes and osgv_checkpoint_disk_size_bytes.
class CheckpointDiskMetrics {
 public:
  using StatFn = std::function<absl::StatusOr<DiskSpace>(const std::string&)>;
  CheckpointDiskMetrics(prometheus::Registry& registry, std::string dir,
                        StatFn stat = StatDiskSpace);

  // Reads the filesystem now. On an error the gauges keep their last
  // values and the error is logged once.
  void Refresh();

 private:
  std::string dir_;
  StatFn stat_;
  prometheus::Gauge& free_;
  prometheus::Gauge& size_;
  std::atomic<bool> warned_{false};  // scrapes may run concurrently
};

}  // namespace osgv
