// Kernel probes: the sandbox talks to gVisor's kernel, not the host's; its
// devices, modules and sysctls are gVisor's, and writes to them never reach
// the host.
#include <sys/utsname.h>

#include <filesystem>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cli/probe/probe.h"

namespace osgv {
namespace {

std::string FirstLine(const std::string& s) { return s.substr(0, s.find('\n')); }

ProbeResult KernelIsGvisor(ProbeWorld& w) {
  utsname u{};
  uname(&u);
  auto r = w.Exec(w.primary, {"uname", "-r"});
  std::string inside = FirstLine(r.stdout_text);
  if (inside.empty()) return CouldNotRun(absl::StrCat("uname failed: ", Brief(r)));
  if (inside == u.release) return Fail(absl::StrCat("host kernel release inside: ", inside));
  return Pass(absl::StrCat("'", inside, "' vs host '", u.release, "'"));
}

ProbeResult ProcVersionIsGvisor(ProbeWorld& w) {
  utsname u{};
  uname(&u);
  auto r = w.Exec(w.primary, {"cat", "/proc/version"});
  std::string host = HostRead("/proc/version");
  if (r.stdout_text.empty()) return CouldNotRun(absl::StrCat("cannot read: ", Brief(r)));
  if (r.stdout_text == host || Contains(r.stdout_text, u.release) || Contains(r.stdout_text, u.version)) {
    return Fail("host /proc/version inside");
  }
  return Pass(FirstLine(r.stdout_text).substr(0, 60));
}

// The host has block devices (so the check can see one); the sandbox has none.
ProbeResult NoHostBlockDevices(ProbeWorld& w) {
  int host_blocks = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/dev", ec)) {
    host_blocks += e.is_block_file(ec) ? 1 : 0;
  }
  auto r = w.Sh("find /dev -type b; echo end");
  if (!Contains(r.stdout_text, "end")) return CouldNotRun(absl::StrCat("find failed: ", Brief(r)));
  if (r.stdout_text != "end\n") return Fail(absl::StrCat("block devices inside: ", Brief(r)));
  return Pass(absl::StrCat("none inside; host has ", host_blocks));
}

std::set<std::string> ModuleNames(const std::string& proc_modules) {
  std::set<std::string> names;
  for (absl::string_view line : absl::StrSplit(proc_modules, '\n', absl::SkipEmpty())) {
    names.insert(std::string(line.substr(0, line.find(' '))));
  }
  return names;
}

// gVisor's kernel has no modules at all, so any listed inside is a leak,
// whether or not the host has that module loaded right now.
ProbeResult HostModulesInvisible(ProbeWorld& w) {
  auto host = ModuleNames(HostRead("/proc/modules"));
  auto r = w.Sh("cat /proc/modules; echo end");
  if (!Contains(r.stdout_text, "end")) return CouldNotRun(absl::StrCat("cannot read: ", Brief(r)));
  auto inside = ModuleNames(r.stdout_text);
  inside.erase("end");
  if (!inside.empty()) return Fail(absl::StrCat("modules listed inside: ", *inside.begin()));
  return Pass(absl::StrCat("none listed inside; host has ", host.size()));
}

// insmod of a (bogus) module fails inside, and the host's module list does
// not change.
ProbeResult ModuleLoadFails(ProbeWorld& w) {
  std::string before = HostRead("/proc/modules");
  auto r = w.Sh("printf '\\177ELFosgv' > /tmp/osgv.ko; insmod /tmp/osgv.ko");
  std::string after = HostRead("/proc/modules");
  if (ModuleNames(before) != ModuleNames(after)) return Fail("host module list changed");
  if (r.exit_code == 0) return Fail("insmod succeeded inside");
  return Pass(absl::StrCat("host modules unchanged; ", Brief(r)));
}

// Writes a sysctl-like file inside and checks the host's copy of it.
ProbeResult WriteStaysInside(ProbeWorld& w, const std::string& path, const std::string& value) {
  std::string before = HostRead(path);
  auto r = w.Sh(absl::StrCat("echo ", value, " > ", path, "; echo rc=$?; cat ", path));
  std::string after = HostRead(path);
  if (before != after) return Fail(absl::StrCat("host ", path, " changed to ", FirstLine(after)));
  return Pass(absl::StrCat("host still '", FirstLine(before).substr(0, 20), "'; sandbox: ", Brief(r, 50)));
}

ProbeResult ProcSysHostnameWrite(ProbeWorld& w) {
  auto random = RandomToken(4);
  if (!random.ok()) return Fail(std::string(random.status().message()));
  return WriteStaysInside(w, "/proc/sys/kernel/hostname", "osgv" + *random);
}

ProbeResult ProcSysVmWrite(ProbeWorld& w) {
  return WriteStaysInside(w, "/proc/sys/vm/overcommit_ratio", "77");
}

// KSM tuning: harmless if it ever leaked, and present on most hosts.
ProbeResult SysWrite(ProbeWorld& w) {
  return WriteStaysInside(w, "/sys/kernel/mm/ksm/sleep_millisecs", "4321");
}

}  // namespace

std::vector<ProbeSpec> KernelProbes() {
  return {
      {"kernel_is_gvisor", "uname -r is not the host's", KernelIsGvisor, {"uname"}},
      {"proc_version_is_gvisor", "/proc/version is not the host's", ProcVersionIsGvisor, {"cat"}},
      {"no_host_block_devices", "/dev has no block devices", NoHostBlockDevices, {"sh", "find"}},
      {"host_modules_invisible", "host modules not listed", HostModulesInvisible, {"sh", "cat"}},
      {"module_load_fails", "insmod fails, host list unchanged", ModuleLoadFails, {"sh", "insmod"}},
      {"proc_sys_hostname_write", "host hostname unchanged", ProcSysHostnameWrite, {"sh", "cat"}},
      {"proc_sys_vm_write", "host vm sysctl unchanged", ProcSysVmWrite, {"sh", "cat"}},
      {"sys_write", "host /sys value unchanged", SysWrite, {"sh", "cat"}},
  };
}

}  // namespace osgv
