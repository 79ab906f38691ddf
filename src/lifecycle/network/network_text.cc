// The pure helpers of sandbox_network.h: addresses, endpoint parsing, names
// and the generated /etc/hosts and /etc/resolv.conf. No I/O, so the unit
// tests cover them without root.
#include <algorithm>
#include <cctype>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "lifecycle/network/sandbox_network.h"

namespace osgv {
namespace {

uint32_t MaskOf(int prefix_len) {
  return prefix_len <= 0 ? 0u : ~uint32_t{0} << (32 - prefix_len);
}

bool InSubnet(uint32_t address, uint32_t network, int prefix_len) {
  return (address & MaskOf(prefix_len)) == network;
}

// RFC 1123 host name: dot-separated labels of letters, digits and inner
// hyphens, 1-63 characters each, 253 in all.
bool ValidHostname(const std::string& name) {
  if (name.empty() || name.size() > 253) return false;
  for (absl::string_view label : absl::StrSplit(name, '.')) {
    if (label.empty() || label.size() > 63) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<uint32_t> ParseIpv4(const std::string& text) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, '.');
  if (parts.size() != 4) return absl::InvalidArgumentError(absl::StrCat("not an IPv4 address: '", text, "'"));
  uint32_t address = 0;
  for (absl::string_view part : parts) {
    // No signs, no spaces, no leading zeros (inet_aton would read those as octal).
    if (part.empty() || part.size() > 3 || (part.size() > 1 && part[0] == '0')) {
      return absl::InvalidArgumentError(absl::StrCat("not an IPv4 address: '", text, "'"));
    }
    uint32_t octet = 0;
    for (char c : part) {
      if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) {
        return absl::InvalidArgumentError(absl::StrCat("not an IPv4 address: '", text, "'"));
      }
      octet = octet * 10 + static_cast<uint32_t>(c - '0');
    }
    if (octet > 255) return absl::InvalidArgumentError(absl::StrCat("not an IPv4 address: '", text, "'"));
    address = (address << 8) | octet;
  }
  return address;
}

std::string FormatIpv4(uint32_t a) {
  return absl::StrCat(a >> 24, ".", (a >> 16) & 0xff, ".", (a >> 8) & 0xff, ".", a & 0xff);
}

absl::StatusOr<std::pair<uint32_t, int>> ParseSubnet(const std::string& cidr) {
  std::vector<std::string> parts = absl::StrSplit(cidr, '/');
  if (parts.size() != 2) {
    return absl::InvalidArgumentError(absl::StrCat("network.subnet: not a CIDR: '", cidr, "'"));
  }
  auto base = ParseIpv4(parts[0]);
  if (!base.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("network.subnet: ", base.status().message()));
  }
  int prefix = 0;
  if (!absl::SimpleAtoi(parts[1], &prefix) || prefix < 8 || prefix > 29) {
    return absl::InvalidArgumentError(
        absl::StrCat("network.subnet: prefix must be /8 to /29: '", cidr, "'"));
  }
  if ((*base & ~MaskOf(prefix)) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("network.subnet: host bits set in '", cidr, "' (use ",
                     FormatIpv4(*base & MaskOf(prefix)), "/", prefix, ")"));
  }
  return std::make_pair(*base, prefix);
}

absl::StatusOr<std::pair<uint32_t, int>> ParseIpv4Prefix(const std::string& text) {
  std::vector<std::string> parts = absl::StrSplit(text, absl::MaxSplits('/', 1));
  auto base = ParseIpv4(parts[0]);
  if (!base.ok()) return base.status();
  int prefix = 32;
  if (parts.size() == 2) {
    bool digits = !parts[1].empty() && parts[1].size() <= 2;
    for (char c : parts[1]) digits = digits && absl::ascii_isdigit(static_cast<unsigned char>(c));
    if (!digits || !absl::SimpleAtoi(parts[1], &prefix) || prefix > 32) {
      return absl::InvalidArgumentError(absl::StrCat("not an IPv4 prefix: '", text, "'"));
    }
  }
  return std::make_pair(*base & MaskOf(prefix), prefix);
}

std::string FormatIpv4Prefix(uint32_t base, int prefix_len) {
  if (prefix_len >= 32) return FormatIpv4(base);
  return absl::StrCat(FormatIpv4(base & MaskOf(prefix_len)), "/", prefix_len);
}

bool PrefixesOverlap(std::pair<uint32_t, int> a, std::pair<uint32_t, int> b) {
  const uint32_t mask = MaskOf(std::min(a.second, b.second));
  return (a.first & mask) == (b.first & mask);
}

absl::StatusOr<uint32_t> AllocateAddress(uint32_t network, int prefix_len,
                                         const std::set<uint32_t>& used,
                                         const std::string& runsc_id) {
  // Usable sandbox addresses: network+2 .. broadcast-1.
  const uint64_t size = uint64_t{1} << (32 - prefix_len);
  if (size < 4) return absl::InvalidArgumentError("subnet too small");
  const uint64_t count = size - 3;
  // FNV-1a of the id: a stable starting point, so the same id in the same
  // state gets the same address, and ids spread over the whole range (an
  // address just freed is unlikely to be the next one handed out, which
  // keeps stale conntrack entries and ARP caches from meeting a new owner).
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : runsc_id) {
    h ^= c;
    h *= 1099511628211ull;
  }
  const uint64_t start = h % count;
  for (uint64_t i = 0; i < count; ++i) {
    uint32_t candidate = network + 2 + static_cast<uint32_t>((start + i) % count);
    if (used.count(candidate) == 0) return candidate;
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "network: no free address left in ", FormatIpv4(network), "/", prefix_len));
}

absl::StatusOr<GatewayEndpoint> ParseGatewayEndpoint(const std::string& endpoint) {
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(
        absl::StrCat("gateway.endpoint: ", why, ": '", endpoint, "'"));
  };
  GatewayEndpoint out;
  absl::string_view rest = endpoint;
  size_t scheme_end = rest.find("://");
  if (scheme_end == absl::string_view::npos) return bad("no scheme (want http:// or https://)");
  out.scheme = absl::AsciiStrToLower(rest.substr(0, scheme_end));
  if (out.scheme != "http" && out.scheme != "https") return bad("scheme must be http or https");
  rest.remove_prefix(scheme_end + 3);
  // Authority ends at the first '/', '?' or '#'.
  size_t auth_end = rest.find_first_of("/?#");
  absl::string_view authority = rest.substr(0, auth_end);
  if (authority.find('@') != absl::string_view::npos) return bad("user info is not supported");
  absl::string_view port_text;
  if (absl::ConsumePrefix(&authority, "[")) {
    size_t close = authority.find(']');
    if (close == absl::string_view::npos) return bad("unterminated '['");
    out.host = std::string(authority.substr(0, close));
    absl::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (!absl::ConsumePrefix(&after, ":")) return bad("junk after ']'");
      port_text = after;
      if (port_text.empty()) return bad("empty port");
    }
  } else {
    size_t colon = authority.rfind(':');
    if (colon != absl::string_view::npos) {
      port_text = authority.substr(colon + 1);
      authority = authority.substr(0, colon);
      if (port_text.empty()) return bad("empty port");
    }
    out.host = std::string(authority);
  }
  if (out.host.empty()) return bad("no host");
  if (!port_text.empty()) {
    int port = 0;
    for (char c : port_text) {
      if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return bad("port is not a number");
    }
    if (port_text.size() > 5 || !absl::SimpleAtoi(port_text, &port) || port < 1 || port > 65535) {
      return bad("port out of range");
    }
    out.port = static_cast<uint16_t>(port);
  } else {
    out.port = out.scheme == "https" ? 443 : 80;
  }
  return out;
}

std::vector<std::string> SandboxNameservers(const std::string& resolv_conf_text,
                                            uint32_t network, int prefix_len) {
  std::vector<std::string> out;
  std::set<uint32_t> seen;
  for (absl::string_view line : absl::StrSplit(resolv_conf_text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (!absl::ConsumePrefix(&line, "nameserver")) continue;
    if (line.empty() || !absl::ascii_isspace(static_cast<unsigned char>(line[0]))) continue;
    line = absl::StripAsciiWhitespace(line);
    // "nameserver 1.2.3.4 # comment" is not valid resolv.conf, but be lenient.
    line = line.substr(0, line.find_first_of(" \t#;"));
    auto a = ParseIpv4(std::string(line));
    if (!a.ok()) continue;  // IPv6: the sandbox has no IPv6 route
    if ((*a >> 24) == 127 || (*a >> 24) == 0) continue;  // the host's own stub resolver
    if ((*a >> 16) == 0xa9fe) continue;                  // 169.254/16 is blocked
    if (InSubnet(*a, network, prefix_len)) continue;     // sandboxes are not resolvers
    if (seen.insert(*a).second) out.push_back(FormatIpv4(*a));
  }
  return out;
}

std::string RenderHostsFile(const std::string& sandbox_ip, const std::string& gateway_ip,
                            const std::string& hostname,
                            const std::vector<std::pair<std::string, std::string>>& extra) {
  std::string out =
      "# Generated by openshell-driver-gvisor; mounted read-only.\n"
      "127.0.0.1\tlocalhost\n"
      "::1\tlocalhost ip6-localhost ip6-loopback\n";
  if (ValidHostname(hostname)) absl::StrAppend(&out, sandbox_ip, "\t", hostname, "\n");
  absl::StrAppend(&out, gateway_ip, "\thost.openshell.internal\n");
  // Re-checked here, where text becomes a file line: a newline in a name
  // would add entries of its own.
  for (const auto& [ip, name] : extra) {
    if (ParseIpv4(ip).ok() && ValidHostname(name)) absl::StrAppend(&out, ip, "\t", name, "\n");
  }
  return out;
}

std::string RenderResolvConf(const std::vector<std::string>& nameservers) {
  std::string out = "# Generated by openshell-driver-gvisor; mounted read-only.\n";
  if (nameservers.empty()) {
    // Without a nameserver line the resolver falls back to 127.0.0.1, which
    // inside gVisor is the sandbox's own loopback: lookups fail fast.
    out += "# No nameservers: egress is denied or the host has none a sandbox can reach.\n";
  }
  for (const auto& ns : nameservers) absl::StrAppend(&out, "nameserver ", ns, "\n");
  return out;
}

std::string HostLinkNameFor(const std::string& link_prefix, const std::string& runsc_id) {
  absl::string_view id = runsc_id;
  absl::ConsumePrefix(&id, "osgv-");
  std::string out = link_prefix;
  size_t added = 0;
  for (char c : id) {
    if (out.size() >= 15) break;  // IFNAMSIZ - 1
    if (absl::ascii_isalnum(static_cast<unsigned char>(c))) {
      out.push_back(c);
      ++added;
    }
  }
  // Too few id characters would make clashes between sandboxes likely.
  if (added < 6) return "";
  return out;
}

bool ValidRunscId(const std::string& runsc_id) {
  if (runsc_id.empty() || runsc_id.size() > 128) return false;
  if (!absl::ascii_isalnum(static_cast<unsigned char>(runsc_id[0]))) return false;
  for (char c : runsc_id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return false;
    }
  }
  return true;
}

absl::StatusOr<std::string> GatewayCallbackAddress(const Config& config) {
  if (!NetworkEnabled(config) || config.gateway.endpoint.empty()) return std::string();
  auto endpoint = ParseGatewayEndpoint(config.gateway.endpoint);
  if (!endpoint.ok()) return endpoint.status();
  auto subnet = ParseSubnet(config.network.subnet);
  if (!subnet.ok()) return subnet.status();
  std::string bridge_ip = FormatIpv4(subnet->first + 1);
  if (endpoint->host != kGatewayHostAlias && endpoint->host != bridge_ip) return std::string();
  return absl::StrCat(bridge_ip, ":", endpoint->port);
}

}  // namespace osgv
