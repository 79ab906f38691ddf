#include "lifecycle/runsc/cgroups.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace osgv {

std::string SandboxCgroupPath(const std::string& runsc_id) {
  return "/openshell-gvisor/" + runsc_id;
}

int RemoveLeakedCgroups(const std::string& cgroup_root, const std::string& runsc_id) {
  int removed = 0;
  std::error_code ec;
  const std::string rel = SandboxCgroupPath(runsc_id);
  // cgroup v1 has one hierarchy per controller; v2 has one unified tree at
  // the root itself. Try both shapes.
  if (rmdir((cgroup_root + rel).c_str()) == 0) ++removed;
  for (const auto& ctrl : std::filesystem::directory_iterator(cgroup_root, ec)) {
    if (rmdir((ctrl.path().string() + rel).c_str()) == 0) ++removed;
  }
  return removed;
}

std::optional<uint64_t> SandboxMemoryBytes(const std::string& cgroup_root,
                                           const std::string& runsc_id) {
  const std::string rel = SandboxCgroupPath(runsc_id);
  for (const auto& file : {cgroup_root + "/memory" + rel + "/memory.usage_in_bytes",
                           cgroup_root + rel + "/memory.current"}) {
    std::ifstream in(file);
    uint64_t v = 0;
    if (in >> v) return v;
  }
  return std::nullopt;
}

std::optional<uint64_t> SandboxCpuNanos(const std::string& cgroup_root,
                                        const std::string& runsc_id) {
  const std::string rel = SandboxCgroupPath(runsc_id);
  for (const auto& file : {cgroup_root + "/cpuacct" + rel + "/cpuacct.usage",
                           cgroup_root + "/cpu,cpuacct" + rel + "/cpuacct.usage"}) {
    std::ifstream in(file);
    uint64_t v = 0;
    if (in >> v) return v;
  }
  std::ifstream stat(cgroup_root + rel + "/cpu.stat");
  std::string key;
  uint64_t value = 0;
  while (stat >> key >> value) {
    if (key == "usage_usec") return value * 1000;
  }
  return std::nullopt;
}

uint64_t SandboxOomKills(const std::string& cgroup_root, const std::string& runsc_id) {
  const std::string rel = SandboxCgroupPath(runsc_id);
  for (const auto& file : {cgroup_root + "/memory" + rel + "/memory.oom_control",
                           cgroup_root + rel + "/memory.events"}) {
    std::ifstream in(file);
    std::string key;
    uint64_t value = 0;
    while (in >> key >> value) {
      if (key == "oom_kill") return value;
    }
  }
  return 0;
}

}  // namespace osgv
