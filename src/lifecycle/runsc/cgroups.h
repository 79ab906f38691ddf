// runsc leaks a sandbox's cgroup directories when it is killed or a
// create/restore fails part-way (runsc.md §2, §7). After every teardown we
// remove what is left of ours: empty directories only, so a live sandbox's
// cgroup can never be touched (rmdir of a populated cgroup fails).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace osgv {

// The cgroupsPath we put in every spec, relative to each hierarchy.
std::string SandboxCgroupPath(const std::string& runsc_id);

// rmdir <cgroup_root>/<controller>/<SandboxCgroupPath(id)> for every
// controller; returns how many directories were removed.
int RemoveLeakedCgroups(const std::string& cgroup_root, const std::string& runsc_id);

// Memory charged to the sandbox's cgroup (v1 memory.usage_in_bytes or v2
// memory.current); nullopt when neither can be read.
std::optional<uint64_t> SandboxMemoryBytes(const std::string& cgroup_root,
                                           const std::string& runsc_id);

// CPU time the sandbox's cgroup has used, in nanoseconds (v1
// cpuacct.usage or v2 cpu.stat usage_usec); nullopt when unreadable.
std::optional<uint64_t> SandboxCpuNanos(const std::string& cgroup_root,
                                        const std::string& runsc_id);

// How many times the kernel's OOM killer fired in the sandbox's memory
// cgroup (v1 memory.oom_control / v2 memory.events "oom_kill"). Read it
// before the cgroup is removed.
uint64_t SandboxOomKills(const std::string& cgroup_root, const std::string& runsc_id);

}  // namespace osgv
