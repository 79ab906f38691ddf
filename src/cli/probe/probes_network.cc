// Network probes: the host's loopback, interfaces and raw traffic are out of
// reach in every network mode.
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli/probe/probe.h"

namespace osgv {
namespace {

// The host's IPv4 addresses other than 127.0.0.1 (bridge, uplinks).
std::vector<std::string> HostIpv4Addresses() {
  std::vector<std::string> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
    if (a->ifa_addr == nullptr || a->ifa_addr->sa_family != AF_INET) continue;
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr, ip, sizeof ip);
    if (std::string(ip) != "127.0.0.1") out.push_back(ip);
  }
  freeifaddrs(list);
  return out;
}

// A listener on the host's 127.0.0.1 counts every connection it accepts.
// The sandbox tries its own 127.0.0.1 and every host address (a networked
// sandbox can route to the bridge): none may reach it.
ProbeResult HostLoopbackUnreachable(ProbeWorld& w) {
  auto& h = w.host();
  int before = h.accepted;
  std::string script;
  for (const auto& ip : HostIpv4Addresses()) absl::StrAppend(&script, "echo hi | nc -w 1 ", ip, " ", h.port, "; ");
  absl::StrAppend(&script, "echo hi | nc -w 2 127.0.0.1 ", h.port, "; echo rc=$?");
  auto r = w.Sh(script);
  usleep(200 * 1000);  // let a connection that did get through be counted
  if (h.accepted != before) return Fail("the host listener accepted a connection");
  return Pass(absl::StrCat("host 127.0.0.1:", h.port, " saw nothing; sandbox: ", Brief(r, 50)));
}

// By address, not by name: a networked sandbox has an eth0 of its own.
// Neither a host interface's MAC nor any host IPv4 address shows up inside.
ProbeResult HostInterfacesInvisible(ProbeWorld& w) {
  auto r = w.Sh("ip addr; cat /proc/net/dev; echo end");
  if (!Contains(r.stdout_text, "end")) return CouldNotRun(absl::StrCat("cannot list: ", Brief(r)));
  std::vector<std::string> host_addresses;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/sys/class/net", ec)) {
    std::string mac = HostRead(e.path().string() + "/address");
    mac = mac.substr(0, mac.find('\n'));
    if (!mac.empty() && mac != "00:00:00:00:00:00") host_addresses.push_back(mac);
  }
  for (const auto& ip : HostIpv4Addresses()) host_addresses.push_back(ip + "/");
  for (const auto& address : host_addresses) {
    if (Contains(r.stdout_text, address)) return Fail(absl::StrCat("host address ", address, " inside"));
  }
  return Pass(absl::StrCat("none of ", host_addresses.size(), " host MACs/IPv4s inside"));
}

// A host raw ICMP socket counts echo requests to 127.0.0.1 while the sandbox
// pings it: the sandbox's raw socket fails, or its packets stay in gVisor.
ProbeResult RawSocketContained(ProbeWorld& w) {
  int fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMP);
  if (fd < 0) return CouldNotRun("host raw socket unavailable; nothing to watch with");
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
      {"host_loopback_unreachable", "host 127.0.0.1 listener unreached", HostLoopbackUnreachable,
       {"sh", "nc"}},
      {"host_interfaces_invisible", "no host MAC or IP inside", HostInterfacesInvisible,
       {"sh", "ip", "cat"}},
      {"raw_socket_contained", "raw ICMP never reaches the host", RawSocketContained, {"sh", "ping"}},
  };
}

}  // namespace osgv
