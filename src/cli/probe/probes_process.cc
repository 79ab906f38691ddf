// Process probes: host processes, their signals and their environment are
// out of the sandbox's sight and reach.
#include "absl/strings/str_cat.h"
#include "cli/probe/probe.h"

namespace osgv {
namespace {

// The marker `sleep` runs on the host under a random argv[0]; no process
// the sandbox can list carries it.
ProbeResult HostProcessInvisible(ProbeWorld& w) {
  const auto& h = w.host();
  if (!Contains(HostRead(absl::StrCat("/proc/", h.marker_pid, "/cmdline")), h.marker_token)) {
    return CouldNotRun("marker process not visible on the host; nothing to compare with");
  }
  auto r = w.Sh("cat /proc/[0-9]*/cmdline | tr '\\0' ' '; echo; ps -o pid,args");
  if (Contains(r.stdout_text, h.marker_token)) return Fail("host marker process listed inside");
  if (!Contains(r.stdout_text, "sleep")) {
    return CouldNotRun(absl::StrCat("cannot list processes: ", Brief(r)));
  }
  return Pass(absl::StrCat("host pid ", h.marker_pid, " ", h.marker_token, " not among sandbox processes"));
}

// SIGKILL aimed at the marker's host pid from inside lands nowhere.
ProbeResult HostPidUnkillable(ProbeWorld& w) {
  auto& h = w.host();
  auto r = w.Sh(absl::StrCat("kill -9 ", h.marker_pid, "; echo rc=$?"));
  if (!h.MarkerAlive()) return Fail(absl::StrCat("host marker died: ", Brief(r)));
  return Pass(absl::StrCat("host pid ", h.marker_pid, " alive; sandbox: ", Brief(r)));
}

// Our environment (inherited by the monitor and runsc) holds a token; no
// sandbox process's environment does.
ProbeResult HostEnvInvisible(ProbeWorld& w) {
  const auto& h = w.host();
  std::string monitor_env = HostRead(absl::StrCat("/proc/", w.primary.monitor_pid, "/environ"));
  if (!Contains(monitor_env, h.env_token)) {
    return CouldNotRun("token not in the sandbox monitor's environment; nothing to compare with");
  }
  auto r = w.Sh("cat /proc/[0-9]*/environ | tr '\\0' '\\n'; env");
  if (Contains(r.stdout_text, h.env_token)) return Fail("host environment visible inside");
  return Pass("monitor (host) has OSGV_PROBE_ENV; no sandbox process does");
}

ProbeResult HostnameIsSandboxes(ProbeWorld& w) {
  auto r = w.Exec(w.primary, {"hostname"});
  std::string inside = r.stdout_text.substr(0, r.stdout_text.find('\n'));
  std::string host = HostRead("/proc/sys/kernel/hostname");
  host = host.substr(0, host.find('\n'));
  if (inside != w.primary.id) return Fail(absl::StrCat("hostname inside is '", inside, "'"));
  if (inside == host) return Fail("same as the host's hostname");
  return Pass(absl::StrCat("'", inside, "' vs host '", host, "'"));
}

}  // namespace

std::vector<ProbeSpec> ProcessProbes() {
  return {
      {"host_process_invisible", "host processes not listed", HostProcessInvisible,
       {"sh", "cat", "tr", "ps"}},
      {"host_pid_unkillable", "kill of a host pid has no effect", HostPidUnkillable, {"sh", "kill"}},
      {"host_env_invisible", "host environment not inherited", HostEnvInvisible,
       {"sh", "cat", "tr", "env"}},
      {"hostname_is_sandboxes", "hostname is the sandbox's", HostnameIsSandboxes, {"hostname"}},
  };
}

}  // namespace osgv
