// The host side of a sandbox's network (docs/network.md).
//
// runsc's `--network=sandbox` only scrapes a network namespace someone else
// prepared (runsc.md §6): it moves eth0's addresses and routes into gVisor's
// netstack. This module prepares that namespace: one bridge per host, and per
// sandbox a netns named after the runsc id with a veth pair whose host end
// is a port of the bridge, an address from the configured subnet, a default
// route via the bridge address, and generated /etc/hosts and
// /etc/resolv.conf files. The host firewall lives in nftables tables this
// driver owns and replaces as a whole; nobody else's rules are touched.
//
// Everything goes through `ip` and `nft` via the one CommandRunner (argv
// vectors, timeouts, stderr in errors). The text those tools are fed is made
// by the pure functions at the bottom, which the unit tests cover.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "capabilities/config.h"
#include "lifecycle/runsc/command_runner.h"

namespace osgv {

// What the bundle and runsc need to attach a sandbox to its network.
struct NetworkAttachment {
  std::string runsc_id;
  std::string netns_path;        // linux.namespaces[type=network].path
  std::string host_link;         // host end of the veth (a bridge port)
  std::string sandbox_ip;        // eth0 inside, e.g. 10.89.0.7
  std::string gateway_ip;        // the bridge address: default route and
                                 // host.openshell.internal
  int prefix_len = 0;
  std::string hosts_path;        // bind-mount read-only onto /etc/hosts
  std::string resolv_conf_path;  // bind-mount read-only onto /etc/resolv.conf
};

// One allowance of a policy fence: TCP to these IPv4 destinations on these
// ports.
struct FenceRule {
  std::vector<std::string> destinations;  // "a.b.c.d" or "a.b.c.d/n", canonical
  std::vector<uint16_t> ports;            // sorted, unique, 1..65535
};

// The egress fence of a v0.1.x/Ryno sandbox (docs/network.md, "Policy
// fence"; policy_fence.h builds it from the gateway's SandboxPolicy): TCP to
// the rules' destinations and ports and nothing else, not even the gateway
// port. A destination on this host is reachable only when it is exactly the
// bridge address; loopback, link-local and the sandbox subnet never are.
struct NetworkFence {
  std::vector<FenceRule> rules;
  std::vector<std::pair<std::string, std::string>> hosts;  // (IPv4, name) for /etc/hosts
};

class SandboxNetwork {
 public:
  virtual ~SandboxNetwork() = default;

  // Bridge up with the subnet's .1, IPv4 forwarding when egress is allowed,
  // and our nft tables (re)loaded. Idempotent; call once at start-up,
  // before any Setup.
  virtual absl::Status EnsureHost() = 0;
  // Allocates (or reuses) the sandbox's address and builds its netns, veth
  // and files. Idempotent: leftovers of an earlier attempt for the same id
  // are replaced; the address stays the same. `hostname` goes into
  // /etc/hosts ("" or not a valid hostname: left out).
  virtual absl::StatusOr<NetworkAttachment> Setup(const std::string& runsc_id,
                                                  const std::string& hostname) = 0;
  // Before every `runsc restore` (and a cold re-create of the same id):
  // runsc stripped eth0's address and routes when the sandbox started, so
  // they are put back; a missing netns or veth (host reboot) is rebuilt with
  // the same address. FAILED_PRECONDITION when the id was never Set up.
  virtual absl::StatusOr<NetworkAttachment> PrepareRestore(const std::string& runsc_id) = 0;
  // Puts the sandbox (Set up before) behind `fence`: its rules replace any
  // earlier fence of the id in the firewall, its names (with localhost,
  // `hostname` and host.openshell.internal) replace /etc/hosts, and
  // resolv.conf lists no nameserver. Kept in <id>.fence, so every later
  // ruleset load (EnsureHost after a restart, Setup/Teardown of others)
  // applies it; an unreadable one denies all. Call after Setup and each
  // PrepareRestore; FAILED_PRECONDITION when the id was never Set up.
  virtual absl::Status ApplyFence(const std::string& runsc_id, const std::string& hostname,
                                  const NetworkFence& fence) = 0;
  // Removes the veth, the netns, the address allocation and the files.
  // Idempotent: whatever is already gone is skipped.
  virtual absl::Status Teardown(const std::string& runsc_id) = 0;
  // Whether this driver (this state dir) holds network state for the id.
  virtual bool IsOurs(const std::string& runsc_id) = 0;
  // Every runsc id with network state of ours: the allocation files plus
  // ports of our bridge (their alias is the runsc id). Start-up recovery
  // tears down those without a live sandbox record.
  virtual absl::StatusOr<std::vector<std::string>> ListAttachments() = 0;
};

struct HostNetworkOptions {
  std::string state_dir;  // allocations and files under <state_dir>/network
  std::string bridge = "osgv0";
  std::string subnet = "10.89.0.0/16";
  bool egress_allowed = true;
  uint16_t gateway_port = 0;  // opened on the bridge address; 0 = none
  // Nameservers for resolv.conf; they are reached like any other egress
  // destination, so they are only useful with egress allowed.
  std::vector<std::string> dns_servers;
  std::string table_prefix = "osgv";  // nft tables <p>_filter, <p>_nat, <p>_l2
  std::string link_prefix = "osgvh";  // veth host ends: prefix + id digits
  std::string ip_path = "ip";
  std::string nft_path = "nft";
  std::chrono::milliseconds timeout{15000};  // per ip/nft call
  std::string proc_sys = "/proc/sys";        // tests point it elsewhere
  std::string netns_dir = "/run/netns";      // where `ip netns add` puts them
};

// The name sandboxes use for the host in gateway.endpoint; it resolves to
// the bridge address through the sandbox's generated /etc/hosts.
inline constexpr char kGatewayHostAlias[] = "host.openshell.internal";

// What the gateway must listen on for sandboxes to call it back
// (GetGatewayListenerRequirements, contract §1.2 and §6.8): "bridge-ip:port"
// when sandboxes are networked and gateway.endpoint names the bridge (by
// kGatewayHostAlias or its address); "" when nothing is needed, e.g. an
// endpoint elsewhere that sandboxes reach as egress.
absl::StatusOr<std::string> GatewayCallbackAddress(const Config& config);

// The options for the driver's configuration: subnet, bridge, egress, the
// gateway port from gateway.endpoint, and nameservers from the host's
// resolv.conf (none when egress is denied).
absl::StatusOr<HostNetworkOptions> HostNetworkOptionsFromConfig(const Config& config);

// The real thing: ip, nft and files under the state dir. Needs root.
class HostNetwork : public SandboxNetwork {
 public:
  HostNetwork(CommandRunner* runner, HostNetworkOptions options);

  absl::Status EnsureHost() override;
  absl::StatusOr<NetworkAttachment> Setup(const std::string& runsc_id,
                                          const std::string& hostname) override;
  absl::StatusOr<NetworkAttachment> PrepareRestore(const std::string& runsc_id) override;
  absl::Status ApplyFence(const std::string& runsc_id, const std::string& hostname,
                          const NetworkFence& fence) override;
  absl::Status Teardown(const std::string& runsc_id) override;
  bool IsOurs(const std::string& runsc_id) override;
  absl::StatusOr<std::vector<std::string>> ListAttachments() override;

  // For tests and an operator's clean-up: deletes our nft tables and the
  // bridge (only when no port is left on it). IPv4 forwarding is left on,
  // since something else may rely on it by now.
  absl::Status RemoveHost();

  const HostNetworkOptions& options() const { return options_; }
  std::string NetworkDir() const;
  std::string HostLinkName(const std::string& runsc_id) const;
  std::string NetnsPath(const std::string& runsc_id) const;

 private:
  absl::StatusOr<CommandResult> Run(std::vector<std::string> argv);
  absl::Status RunOk(const std::string& what, std::vector<std::string> argv);
  // nft -f on a script written to <network dir>/<name> (kept for operators).
  absl::Status RunNftScript(const std::string& name, const std::string& script);
  bool LinkExists(const std::string& link, const std::string& netns = "");
  absl::Status EnsureBridge();
  absl::Status LoadRuleset();
  absl::StatusOr<std::map<std::string, uint32_t>> ReadAllocations();
  absl::StatusOr<uint32_t> AllocatedAddress(const std::string& runsc_id);
  // The rules of the id's <id>.fence; nullopt when it has none.
  std::optional<std::vector<FenceRule>> ReadFence(const std::string& runsc_id);
  absl::StatusOr<uint32_t> AllocateLocked(const std::string& runsc_id);
  absl::Status BuildLinks(const std::string& runsc_id, uint32_t address);
  absl::Status AssignAddress(const std::string& runsc_id, uint32_t address, bool replace);
  absl::Status RemoveLinks(const std::string& runsc_id);
  absl::Status WriteFiles(const std::string& runsc_id, uint32_t address,
                          const std::string& hostname, bool keep_existing);
  bool LinkOnBridge(const std::string& link);
  NetworkAttachment Attachment(const std::string& runsc_id, uint32_t address) const;

  CommandRunner* runner_;
  HostNetworkOptions options_;
  absl::Status options_status_;
  uint32_t network_ = 0;  // subnet base, host order
  int prefix_len_ = 0;
  std::mutex mu_;  // address allocation and the l2 address set
  bool host_ready_ = false;  // EnsureHost ran: Setup/Teardown reload the set
};

// Refuses a netns path that is the calling process's own network namespace
// (same st_dev/st_ino as /proc/self/ns/net). The /proc/sys/net mask turns
// off runsc's own guard, and runsc strips the addresses of whatever netns it
// is given, so pointing it at the host's would cut the host off.
absl::Status CheckNotHostNetns(const std::string& netns_path);

// ---- pure helpers (unit-tested) ---------------------------------------------

// "a.b.c.d" <-> host-order uint32.
absl::StatusOr<uint32_t> ParseIpv4(const std::string& text);
std::string FormatIpv4(uint32_t address);

// "10.89.0.0/16" -> base and prefix. The base must have no host bits set;
// the prefix must leave room for the bridge and at least one sandbox
// (/8 to /29).
absl::StatusOr<std::pair<uint32_t, int>> ParseSubnet(const std::string& cidr);

// "a.b.c.d" (a /32) or "a.b.c.d/n" (0..32) -> base with host bits cleared,
// and prefix; and back, "a.b.c.d" for a /32.
absl::StatusOr<std::pair<uint32_t, int>> ParseIpv4Prefix(const std::string& text);
std::string FormatIpv4Prefix(uint32_t base, int prefix_len);
// Whether two prefixes share an address.
bool PrefixesOverlap(std::pair<uint32_t, int> a, std::pair<uint32_t, int> b);

// Picks a free address for `runsc_id`: network+2 .. broadcast-1 (the .1 is
// the bridge's), starting at a point derived from the id and probing upward,
// so it is deterministic for a given id and set of used addresses, and a
// freed address is not handed out again at once. RESOURCE_EXHAUSTED when full.
absl::StatusOr<uint32_t> AllocateAddress(uint32_t network, int prefix_len,
                                         const std::set<uint32_t>& used,
                                         const std::string& runsc_id);

struct GatewayEndpoint {
  std::string scheme;  // http | https
  std::string host;    // without brackets
  uint16_t port = 0;   // explicit, else 80 / 443
};
// "http://host.openshell.internal:8080/x" -> {http, host..., 8080}.
absl::StatusOr<GatewayEndpoint> ParseGatewayEndpoint(const std::string& endpoint);

// Nameserver addresses from resolv.conf text that a sandbox could use:
// IPv4 only, no loopback (a stub resolver such as 127.0.0.53 is the host's,
// not the sandbox's), no link-local (blocked, with the metadata service),
// none inside `subnet`.
std::vector<std::string> SandboxNameservers(const std::string& resolv_conf_text,
                                            uint32_t network, int prefix_len);

// /etc/hosts for a sandbox: localhost, its own name on its address (when
// `hostname` is a valid hostname), host.openshell.internal on the bridge,
// then `extra` (a policy fence's names; pairs whose address is not IPv4 or
// whose name is not a valid hostname are left out).
std::string RenderHostsFile(const std::string& sandbox_ip, const std::string& gateway_ip,
                            const std::string& hostname,
                            const std::vector<std::pair<std::string, std::string>>& extra = {});
// /etc/resolv.conf: the nameservers, or a comment saying there are none.
std::string RenderResolvConf(const std::vector<std::string>& nameservers);

struct RulesetInputs {
  std::string table_prefix = "osgv";
  std::string bridge = "osgv0";
  std::string link_prefix = "osgvh";
  std::string subnet = "10.89.0.0/16";
  std::string gateway_ip = "10.89.0.1";
  uint16_t gateway_port = 0;
  bool egress_allowed = true;
  // host link -> sandbox address, for the anti-spoofing set
  std::map<std::string, std::string> ports;
  // sandbox address -> the rules of its policy fence (none = deny all);
  // sandboxes not in here get the rules above.
  std::map<std::string, std::vector<FenceRule>> fences;
};
// The nft script that atomically replaces our three tables (and only ours).
std::string RenderRuleset(const RulesetInputs& in);
// The script that deletes them (for RemoveHost); missing tables are fine.
std::string RenderRulesetRemoval(const std::string& table_prefix);

// The veth host-end name: prefix + the id's alphanumerics after "osgv-",
// cut to Linux's 15 characters. Empty when fewer than 6 would remain.
std::string HostLinkNameFor(const std::string& link_prefix, const std::string& runsc_id);
// Whether `runsc_id` is safe as a netns and file name.
bool ValidRunscId(const std::string& runsc_id);

}  // namespace osgv
