#include "metrics/checkpoint_disk.h"

#include <spdlog/spdlog.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <filesystem>

#include "absl/strings/str_cat.h"

namespace osgv {

absl::StatusOr<DiskSpace> StatDiskSpace(const std::string& dir) {
  std::filesystem::path path(dir);
  struct statvfs st;
  while (statvfs(path.c_str(), &st) != 0) {
    if (errno != ENOENT || !path.has_relative_path()) {
      return absl::ErrnoToStatus(errno, absl::StrCat("statvfs ", path.string()));
    }
    path = path.parent_path();
  }
  DiskSpace space;
  space.free_bytes = static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
  space.size_bytes = static_cast<uint64_t>(st.f_blocks) * st.f_frsize;
  return space;
}

CheckpointDiskMetrics::CheckpointDiskMetrics(prometheus::Registry& registry, std::string dir,
                                             StatFn stat)
    : dir_(std::move(dir)),
      stat_(std::move(stat)),
      free_(prometheus::BuildGauge()
                .Name("osgv_checkpoint_disk_free_bytes")
                .Help("Bytes available on the filesystem of the checkpoint directory, read at "
                      "each scrape")
                .Register(registry)
                .Add({})),
      size_(prometheus::BuildGauge()
                .Name("osgv_checkpoint_disk_size_bytes")
                .Help("Total bytes of the filesystem of the checkpoint directory")
                .Register(registry)
                .Add({})) {}

void CheckpointDiskMetrics::Refresh() {
  absl::StatusOr<DiskSpace> space = stat_(dir_);
  if (!space.ok()) {
    if (!warned_.exchange(true)) spdlog::warn("metrics: {}", space.status().ToString());
    return;
  }
  free_.Set(static_cast<double>(space->free_bytes));
  size_.Set(static_cast<double>(space->size_bytes));
}

}  // namespace osgv
