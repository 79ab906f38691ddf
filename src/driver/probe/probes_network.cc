// Network probes: the host's loopback, interfaces and raw traffic are out of
// reach in every network mode.
#include <arpa/inet.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "driver/probe/probe.h"

namespace osgv {
namespace {

// A listener on the host's 127.0.0.1 counts every connection it accepts;
// the sandbox's 127.0.0.1 is its own.
ProbeResult HostLoopbackUnreachable(ProbeWorld& w) {
  auto& h = w.host();
  int before = h.accepted;
  auto r = w.Sh(absl::StrCat("echo hi | nc -w 2 127.0.0.1 ", h.port, "; echo rc=$?"));
  usleep(200 * 1000);  // let a connection that did get through be counted
  if (h.accepted != before) return Fail("the host listener accepted a connection");
  return Pass(absl::StrCat("host 127.0.0.1:", h.port, " saw nothing; sandbox: ", Brief(r, 50)));
}

ProbeResult HostInterfacesInvisible(ProbeWorld& w) {
  auto r = w.Sh("cat /proc/net/dev; ls /sys/class/net 2>/dev/null");
  int host_ifaces = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/sys/class/net", ec)) {
    std::string name = e.path().filename().string();
    if (name == "lo") continue;
    ++host_ifaces;
    // Sandbox-side veths are named inside their own netns, never like the host's.
    if (Contains(r.stdout_text, name + ":")) return Fail(absl::StrCat("host interface ", name, " inside"));
  }
  return Pass(absl::StrCat("none of the host's ", host_ifaces, " interfaces listed inside"));
}

// A host raw ICMP socket counts echo requests to 127.0.0.1 while the sandbox
// pings it: the sandbox's raw socket fails, or its packets stay in gVisor.
ProbeResult RawSocketContained(ProbeWorld& w) {
  int fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMP);
  if (fd < 0) return Fail("host raw socket unavailable; probe is void");
  auto r = w.Sh("ping -c 2 -W 1 127.0.0.1; echo rc=$?");
  int seen = 0;
  char buf[2048];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof buf, 0)) > 0) {
    auto* ip = reinterpret_cast<const iphdr*>(buf);
    if (n < static_cast<ssize_t>(ip->ihl * 4 + sizeof(icmphdr))) continue;
    auto* icmp = reinterpret_cast<const icmphdr*>(buf + ip->ihl * 4);
    if (icmp->type == ICMP_ECHO && ip->daddr == htonl(INADDR_LOOPBACK)) ++seen;
  }
  close(fd);
  if (seen > 0) return Fail(absl::StrCat("host saw ", seen, " echo requests on its loopback"));
  return Pass(absl::StrCat("host loopback saw no ICMP; sandbox: ", Brief(r, 60)));
}

}  // namespace

std::vector<ProbeSpec> NetworkProbes() {
  return {
      {"host_loopback_unreachable", "host 127.0.0.1 listener unreached", HostLoopbackUnreachable},
      {"host_interfaces_invisible", "host interfaces not listed", HostInterfacesInvisible},
      {"raw_socket_contained", "raw ICMP never reaches the host", RawSocketContained},
  };
}

}  // namespace osgv
