// HostNetwork: the bridge, per-sandbox netns + veth, address allocations
// and our nftables tables, all through `ip` and `nft` (docs/network.md).
//
// Files under <state>/network:
//   <runsc id>.ip           the sandbox's address: written before any link
//                           exists, removed last, so it is the record of
//                           what to clean up and restarts never re-use it
//   <runsc id>.hosts        bind-mounted onto /etc/hosts
//   <runsc id>.resolv.conf  bind-mounted onto /etc/resolv.conf
//   <runsc id>.fence        a v0.1.x/Ryno sandbox's policy fence rules
//                           ({"rules":[{"destinations":[..],"ports":[..]}]}),
//                           read at every ruleset load
//   ruleset.nft             the last script loaded (for operators)
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "lifecycle/fs_util.h"
#include "lifecycle/network/sandbox_network.h"

namespace osgv {
namespace {

constexpr char kIpSuffix[] = ".ip";
constexpr char kHostsSuffix[] = ".hosts";
constexpr char kResolvSuffix[] = ".resolv.conf";
constexpr char kFenceSuffix[] = ".fence";
// The interface name inside the netns; runsc moves whatever it finds there
// into the sandbox under the same name.
constexpr char kSandboxLink[] = "eth0";

bool Exists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

absl::Status RemoveFile(const std::string& path) {
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return absl::InternalError(absl::StrCat("remove ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

// Best effort: a sysctl that does not exist (no IPv6) is not an error.
void WriteSysctl(const std::string& path, const std::string& value) {
  if (!Exists(path)) return;
  auto current = ReadFile(path);
  if (current.ok() && absl::StripAsciiWhitespace(*current) == value) return;
  // In place: /proc/sys does not allow the temp-file-and-rename of
  // WriteFileReplace.
  int fd = open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) return;
  const std::string line = value + "\n";
  (void)!write(fd, line.data(), line.size());
  close(fd);
}

bool SimpleName(const std::string& s, size_t max_len) {
  if (s.empty() || s.size() > max_len) return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
  }
  return true;
}

}  // namespace

HostNetwork::HostNetwork(CommandRunner* runner, HostNetworkOptions options)
    : runner_(runner), options_(std::move(options)) {
  auto subnet = ParseSubnet(options_.subnet);
  if (!subnet.ok()) {
    options_status_ = subnet.status();
    return;
  }
  network_ = subnet->first;
  prefix_len_ = subnet->second;
  if (options_.state_dir.empty()) {
    options_status_ = absl::InvalidArgumentError("network: no state directory");
  } else if (!SimpleName(options_.bridge, 15)) {
    options_status_ = absl::InvalidArgumentError(
        absl::StrCat("network.bridge: not a valid interface name: '", options_.bridge, "'"));
  } else if (!SimpleName(options_.link_prefix, 9)) {
    // At most 9 so at least 6 id characters fit in IFNAMSIZ.
    options_status_ = absl::InvalidArgumentError(
        absl::StrCat("network: bad link prefix '", options_.link_prefix, "'"));
  } else if (!SimpleName(options_.table_prefix, 32) || absl::StrContains(options_.table_prefix, "-")) {
    options_status_ = absl::InvalidArgumentError(
        absl::StrCat("network: bad nft table prefix '", options_.table_prefix, "'"));
  }
}

std::string HostNetwork::NetworkDir() const { return options_.state_dir + "/network"; }

std::string HostNetwork::HostLinkName(const std::string& runsc_id) const {
  return HostLinkNameFor(options_.link_prefix, runsc_id);
}

std::string HostNetwork::NetnsPath(const std::string& runsc_id) const {
  return options_.netns_dir + "/" + runsc_id;
}

absl::StatusOr<CommandResult> HostNetwork::Run(std::vector<std::string> argv) {
  Command c;
  c.argv = std::move(argv);
  c.timeout = options_.timeout;
  return runner_->Run(c);
}

absl::Status HostNetwork::RunOk(const std::string& what, std::vector<std::string> argv) {
  const std::string line = absl::StrJoin(argv, " ");
  auto r = Run(std::move(argv));
  if (!r.ok()) {
    return absl::Status(r.status().code(), absl::StrCat("network: ", what, ": ", r.status().message()));
  }
  if (!r->ok()) {
    std::string msg = absl::StrCat("network: ", what, ": `", line, "`: ", r->Describe());
    if (r->timed_out) return absl::DeadlineExceededError(msg);
    return absl::InternalError(msg);
  }
  return absl::OkStatus();
}

absl::Status HostNetwork::RunNftScript(const std::string& name, const std::string& script) {
  const std::string path = NetworkDir() + "/" + name;
  if (auto st = WriteFileReplace(path, script, 0600); !st.ok()) return st;
  return RunOk("load nftables " + path, {options_.nft_path, "-f", path});
}

bool HostNetwork::LinkExists(const std::string& link, const std::string& netns) {
  std::vector<std::string> argv = {options_.ip_path};
  if (!netns.empty()) argv.insert(argv.end(), {"-n", netns});
  argv.insert(argv.end(), {"link", "show", "dev", link});
  auto r = Run(std::move(argv));
  return r.ok() && r->ok();
}

bool HostNetwork::LinkOnBridge(const std::string& link) {
  auto r = Run({options_.ip_path, "-j", "link", "show", "dev", link});
  if (!r.ok() || !r->ok()) return false;
  auto j = nlohmann::json::parse(r->stdout_text, nullptr, false);
  if (!j.is_array() || j.empty() || !j[0].is_object()) return false;
  return j[0].value("master", "") == options_.bridge &&
         j[0].value("operstate", "") != "DOWN";
}

absl::Status HostNetwork::EnsureBridge() {
  if (!LinkExists(options_.bridge)) {
    if (auto st = RunOk("create bridge", {options_.ip_path, "link", "add", "name", options_.bridge,
                                          "type", "bridge"});
        !st.ok()) {
      return st;
    }
  }
  // Sandboxes get no IPv6; without a link-local address on the bridge the
  // host offers them nothing over it either.
  WriteSysctl(absl::StrCat(options_.proc_sys, "/net/ipv6/conf/", options_.bridge, "/disable_ipv6"), "1");
  const std::string gw = absl::StrCat(FormatIpv4(network_ + 1), "/", prefix_len_);
  if (auto st = RunOk("bridge address", {options_.ip_path, "addr", "replace", gw, "dev", options_.bridge});
      !st.ok()) {
    return st;
  }
  return RunOk("bridge up", {options_.ip_path, "link", "set", "dev", options_.bridge, "up"});
}

absl::Status HostNetwork::LoadRuleset() {
  auto allocations = ReadAllocations();
  if (!allocations.ok()) return allocations.status();
  RulesetInputs in;
  in.table_prefix = options_.table_prefix;
  in.bridge = options_.bridge;
  in.link_prefix = options_.link_prefix;
  in.subnet = absl::StrCat(FormatIpv4(network_), "/", prefix_len_);
  in.gateway_ip = FormatIpv4(network_ + 1);
  in.gateway_port = options_.gateway_port;
  in.egress_allowed = options_.egress_allowed;
  for (const auto& [id, address] : *allocations) {
    std::string link = HostLinkName(id);
    if (!link.empty()) in.ports[link] = FormatIpv4(address);
    if (auto rules = ReadFence(id)) in.fences[FormatIpv4(address)] = *std::move(rules);
  }
  return RunNftScript("ruleset.nft", RenderRuleset(in));
}

std::optional<std::vector<FenceRule>> HostNetwork::ReadFence(const std::string& runsc_id) {
  const std::string path = NetworkDir() + "/" + runsc_id + kFenceSuffix;
  if (!Exists(path)) return std::nullopt;
  // A fence that cannot be read fails closed: the sandbox keeps no egress.
  std::vector<FenceRule> rules;
  auto text = ReadFile(path);
  auto j = nlohmann::json::parse(text.ok() ? *text : "", nullptr, false);
  if (!j.is_object() || !j.contains("rules") || !j["rules"].is_array()) return rules;
  for (const auto& r : j["rules"]) {
    if (!r.is_object()) continue;
    FenceRule rule;
    for (const auto& d : r.value("destinations", nlohmann::json::array())) {
      // Re-parsed: only canonical addresses ever reach the nft script.
      auto prefix = ParseIpv4Prefix(d.is_string() ? d.get<std::string>() : "");
      if (prefix.ok()) rule.destinations.push_back(FormatIpv4Prefix(prefix->first, prefix->second));
    }
    std::set<uint16_t> ports;
    for (const auto& p : r.value("ports", nlohmann::json::array())) {
      if (p.is_number_unsigned() && p.get<uint64_t>() >= 1 && p.get<uint64_t>() <= 65535) {
        ports.insert(static_cast<uint16_t>(p.get<uint64_t>()));
      }
    }
    rule.ports.assign(ports.begin(), ports.end());
    if (!rule.destinations.empty() && !rule.ports.empty()) rules.push_back(std::move(rule));
  }
  return rules;
}

absl::Status HostNetwork::EnsureHost() {
  if (!options_status_.ok()) return options_status_;
  std::lock_guard<std::mutex> lock(mu_);
  if (auto st = MakeDirs(NetworkDir(), 0755); !st.ok()) return st;
  if (auto st = EnsureBridge(); !st.ok()) return st;
  // Forwarding is host-wide; it is only switched on when sandboxes are
  // meant to reach the outside (our forward chain confines them either way).
  if (options_.egress_allowed) WriteSysctl(options_.proc_sys + "/net/ipv4/ip_forward", "1");
  if (auto st = LoadRuleset(); !st.ok()) return st;
  host_ready_ = true;
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, uint32_t>> HostNetwork::ReadAllocations() {
  std::map<std::string, uint32_t> out;
  DIR* dir = opendir(NetworkDir().c_str());
  if (dir == nullptr) {
    if (errno == ENOENT) return out;
    return absl::InternalError(absl::StrCat("open ", NetworkDir(), ": ", std::strerror(errno)));
  }
  std::vector<std::string> names;
  while (struct dirent* e = readdir(dir)) names.emplace_back(e->d_name);
  closedir(dir);
  for (const auto& name : names) {
    absl::string_view id = name;
    if (!absl::ConsumeSuffix(&id, kIpSuffix) || !ValidRunscId(std::string(id))) continue;
    auto text = ReadFile(NetworkDir() + "/" + name);
    if (!text.ok()) continue;  // raced with a Teardown
    auto address = ParseIpv4(std::string(absl::StripAsciiWhitespace(*text)));
    // A torn or foreign file must not make its address look free: refuse.
    if (!address.ok()) {
      return absl::DataLossError(absl::StrCat("network: ", NetworkDir(), "/", name, ": ",
                                              address.status().message()));
    }
    out[std::string(id)] = *address;
  }
  return out;
}

absl::StatusOr<uint32_t> HostNetwork::AllocateLocked(const std::string& runsc_id) {
  auto allocations = ReadAllocations();
  if (!allocations.ok()) return allocations.status();
  if (auto it = allocations->find(runsc_id); it != allocations->end()) return it->second;
  std::set<uint32_t> used;
  for (const auto& [id, address] : *allocations) used.insert(address);
  auto address = AllocateAddress(network_, prefix_len_, used, runsc_id);
  if (!address.ok()) return address.status();
  // Durable before any link exists: after a crash the file is what says
  // this address is taken and what there is to clean up.
  if (auto st = WriteFileAtomic(NetworkDir() + "/" + runsc_id + kIpSuffix,
                                FormatIpv4(*address) + "\n", 0644);
      !st.ok()) {
    return st;
  }
  return *address;
}

absl::Status HostNetwork::RemoveLinks(const std::string& runsc_id) {
  const std::string host = HostLinkName(runsc_id);
  // Deleting one end of a veth deletes both; the netns may still be held by
  // a sandbox process, which keeps it alive without its name.
  if (!host.empty() && LinkExists(host)) {
    if (auto st = RunOk("delete veth", {options_.ip_path, "link", "del", "dev", host}); !st.ok()) {
      return st;
    }
  }
  if (Exists(NetnsPath(runsc_id))) {
    if (auto st = RunOk("delete netns", {options_.ip_path, "netns", "del", runsc_id}); !st.ok()) {
      return st;
    }
  }
  return absl::OkStatus();
}

absl::Status HostNetwork::AssignAddress(const std::string& runsc_id, uint32_t address, bool replace) {
  const std::string& ip = options_.ip_path;
  if (replace) {
    // Whatever runsc left (normally nothing) goes, so exactly ours is there.
    if (auto st = RunOk("flush address", {ip, "-n", runsc_id, "addr", "flush", "dev", kSandboxLink});
        !st.ok()) {
      return st;
    }
  }
  if (auto st = RunOk("sandbox link up", {ip, "-n", runsc_id, "link", "set", "dev", kSandboxLink, "up"});
      !st.ok()) {
    return st;
  }
  if (auto st = RunOk("sandbox address",
                      {ip, "-n", runsc_id, "addr", "replace",
                       absl::StrCat(FormatIpv4(address), "/", prefix_len_), "dev", kSandboxLink});
      !st.ok()) {
    return st;
  }
  return RunOk("default route", {ip, "-n", runsc_id, "route", "replace", "default", "via",
                                 FormatIpv4(network_ + 1), "dev", kSandboxLink});
}

absl::Status HostNetwork::BuildLinks(const std::string& runsc_id, uint32_t address) {
  const std::string& ip = options_.ip_path;
  const std::string host = HostLinkName(runsc_id);
  if (host.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("network: runsc id '", runsc_id, "' gives no interface name"));
  }
  // The name is a prefix of the id: never take over another sandbox's link.
  if (LinkExists(host)) {
    auto r = Run({ip, "-j", "link", "show", "dev", host});
    if (r.ok() && r->ok()) {
      auto j = nlohmann::json::parse(r->stdout_text, nullptr, false);
      std::string alias = j.is_array() && !j.empty() && j[0].is_object() ? j[0].value("ifalias", "") : "";
      if (!alias.empty() && alias != runsc_id) {
        return absl::AlreadyExistsError(absl::StrCat("network: interface ", host,
                                                     " belongs to sandbox ", alias));
      }
    }
  }
  if (auto st = RemoveLinks(runsc_id); !st.ok()) return st;
  if (auto st = RunOk("create netns", {ip, "netns", "add", runsc_id}); !st.ok()) return st;
  // The peer is created directly inside the netns, so it never appears
  // (even briefly) among the host's interfaces.
  if (auto st = RunOk("create veth", {ip, "link", "add", "name", host, "type", "veth", "peer", "name",
                                      kSandboxLink, "netns", runsc_id});
      !st.ok()) {
    return st;
  }
  // The alias records the owner: startup recovery finds ports by it.
  if (auto st = RunOk("label veth", {ip, "link", "set", "dev", host, "alias", runsc_id}); !st.ok()) {
    return st;
  }
  WriteSysctl(absl::StrCat(options_.proc_sys, "/net/ipv6/conf/", host, "/disable_ipv6"), "1");
  if (auto st = RunOk("attach veth", {ip, "link", "set", "dev", host, "master", options_.bridge, "up"});
      !st.ok()) {
    return st;
  }
  if (auto st = RunOk("loopback up", {ip, "-n", runsc_id, "link", "set", "dev", "lo", "up"}); !st.ok()) {
    return st;
  }
  return AssignAddress(runsc_id, address, /*replace=*/false);
}

absl::Status HostNetwork::WriteFiles(const std::string& runsc_id, uint32_t address,
                                     const std::string& hostname, bool keep_existing) {
  const std::string base = NetworkDir() + "/" + runsc_id;
  const std::string hosts = base + kHostsSuffix;
  const std::string resolv = base + kResolvSuffix;
  // 0644: the sandbox reads them as whatever user it runs as.
  if (!keep_existing || !Exists(hosts)) {
    auto st = WriteFileReplace(
        hosts, RenderHostsFile(FormatIpv4(address), FormatIpv4(network_ + 1), hostname), 0644);
    if (!st.ok()) return st;
  }
  if (!keep_existing || !Exists(resolv)) {
    auto st = WriteFileReplace(resolv, RenderResolvConf(options_.dns_servers), 0644);
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

NetworkAttachment HostNetwork::Attachment(const std::string& runsc_id, uint32_t address) const {
  NetworkAttachment a;
  a.runsc_id = runsc_id;
  a.netns_path = NetnsPath(runsc_id);
  a.host_link = HostLinkName(runsc_id);
  a.sandbox_ip = FormatIpv4(address);
  a.gateway_ip = FormatIpv4(network_ + 1);
  a.prefix_len = prefix_len_;
  a.hosts_path = NetworkDir() + "/" + runsc_id + kHostsSuffix;
  a.resolv_conf_path = NetworkDir() + "/" + runsc_id + kResolvSuffix;
  return a;
}

absl::StatusOr<NetworkAttachment> HostNetwork::Setup(const std::string& runsc_id,
                                                     const std::string& hostname) {
  if (!options_status_.ok()) return options_status_;
  if (!ValidRunscId(runsc_id)) {
    return absl::InvalidArgumentError(absl::StrCat("network: bad runsc id '", runsc_id, "'"));
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (auto st = MakeDirs(NetworkDir(), 0755); !st.ok()) return st;
  auto address = AllocateLocked(runsc_id);
  if (!address.ok()) return address.status();
  absl::Status st = BuildLinks(runsc_id, *address);
  if (st.ok()) st = WriteFiles(runsc_id, *address, hostname, /*keep_existing=*/false);
  // The port's address must be in the anti-spoofing set before the sandbox
  // sends anything.
  if (st.ok()) st = LoadRuleset();
  if (!st.ok()) {
    // Links half-built are removed; the allocation stays so a retry gets the
    // same address and Teardown still knows about the id.
    (void)RemoveLinks(runsc_id);
    return st;
  }
  return Attachment(runsc_id, *address);
}

// The address an attached sandbox was given; the caller holds mu_.
absl::StatusOr<uint32_t> HostNetwork::AllocatedAddress(const std::string& runsc_id) {
  if (!options_status_.ok()) return options_status_;
  if (!ValidRunscId(runsc_id)) {
    return absl::InvalidArgumentError(absl::StrCat("network: bad runsc id '", runsc_id, "'"));
  }
  auto allocations = ReadAllocations();
  if (!allocations.ok()) return allocations.status();
  auto it = allocations->find(runsc_id);
  if (it == allocations->end()) {
    return absl::FailedPreconditionError(
        absl::StrCat("network: sandbox ", runsc_id, " has no network attachment"));
  }
  return it->second;
}

absl::StatusOr<NetworkAttachment> HostNetwork::PrepareRestore(const std::string& runsc_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto allocated = AllocatedAddress(runsc_id);
  if (!allocated.ok()) return allocated.status();
  const uint32_t address = *allocated;
  const std::string host = HostLinkName(runsc_id);
  const bool intact = Exists(NetnsPath(runsc_id)) && LinkExists(kSandboxLink, runsc_id) &&
                      LinkExists(host);
  absl::Status st;
  if (!intact) {
    // Host reboot or a partial teardown: rebuild with the same address.
    st = BuildLinks(runsc_id, address);
  } else {
    if (!LinkOnBridge(host)) {
      st = RunOk("attach veth", {options_.ip_path, "link", "set", "dev", host, "master",
                                 options_.bridge, "up"});
    }
    // runsc moved the address and routes into its netstack at start.
    if (st.ok()) st = AssignAddress(runsc_id, address, /*replace=*/true);
  }
  if (st.ok()) st = WriteFiles(runsc_id, address, "", /*keep_existing=*/true);
  if (st.ok() && host_ready_) st = LoadRuleset();
  if (!st.ok()) return st;
  return Attachment(runsc_id, address);
}

absl::Status HostNetwork::ApplyFence(const std::string& runsc_id, const std::string& hostname,
                                     const NetworkFence& fence) {
  std::lock_guard<std::mutex> lock(mu_);
  auto allocated = AllocatedAddress(runsc_id);
  if (!allocated.ok()) return allocated.status();
  nlohmann::json rules = nlohmann::json::array();
  for (const FenceRule& rule : fence.rules) {
    rules.push_back({{"destinations", rule.destinations}, {"ports", rule.ports}});
  }
  const std::string base = NetworkDir() + "/" + runsc_id;
  absl::Status st = WriteFileReplace(base + kFenceSuffix,
                                     nlohmann::json{{"rules", rules}}.dump() + "\n", 0600);
  // Names come from the fence, not DNS: the sandbox has no nameserver.
  if (st.ok()) {
    st = WriteFileReplace(base + kHostsSuffix,
                          RenderHostsFile(FormatIpv4(*allocated), FormatIpv4(network_ + 1),
                                          hostname, fence.hosts),
                          0644);
  }
  if (st.ok()) st = WriteFileReplace(base + kResolvSuffix, RenderResolvConf({}), 0644);
  if (st.ok()) st = LoadRuleset();
  return st;
}

absl::Status HostNetwork::Teardown(const std::string& runsc_id) {
  if (!options_status_.ok()) return options_status_;
  if (!ValidRunscId(runsc_id)) {
    return absl::InvalidArgumentError(absl::StrCat("network: bad runsc id '", runsc_id, "'"));
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (auto st = RemoveLinks(runsc_id); !st.ok()) return st;
  const std::string base = NetworkDir() + "/" + runsc_id;
  for (const char* suffix : {kHostsSuffix, kResolvSuffix, kFenceSuffix, kIpSuffix}) {
    if (auto st = RemoveFile(base + suffix); !st.ok()) return st;
  }
  // Drop the address from the anti-spoofing set, so a later owner of the
  // address is not confused with this one.
  if (host_ready_) return LoadRuleset();
  return absl::OkStatus();
}

bool HostNetwork::IsOurs(const std::string& runsc_id) {
  return ValidRunscId(runsc_id) && Exists(NetworkDir() + "/" + runsc_id + kIpSuffix);
}

absl::StatusOr<std::vector<std::string>> HostNetwork::ListAttachments() {
  std::lock_guard<std::mutex> lock(mu_);
  auto allocations = ReadAllocations();
  if (!allocations.ok()) return allocations.status();
  std::set<std::string> ids;
  for (const auto& [id, address] : *allocations) ids.insert(id);
  // Ports of our bridge whose allocation file is gone (a crash between
  // Teardown's steps, or a lost state dir).
  auto r = Run({options_.ip_path, "-j", "link", "show", "master", options_.bridge});
  if (r.ok() && r->ok()) {
    auto j = nlohmann::json::parse(r->stdout_text, nullptr, false);
    if (j.is_array()) {
      for (const auto& link : j) {
        if (!link.is_object()) continue;
        std::string name = link.value("ifname", "");
        std::string alias = link.value("ifalias", "");
        if (!absl::StartsWith(name, options_.link_prefix) || !ValidRunscId(alias)) continue;
        if (HostLinkName(alias) != name.substr(0, name.find('@'))) continue;
        ids.insert(alias);
      }
    }
  }
  return std::vector<std::string>(ids.begin(), ids.end());
}

absl::Status HostNetwork::RemoveHost() {
  if (!options_status_.ok()) return options_status_;
  std::lock_guard<std::mutex> lock(mu_);
  if (auto st = MakeDirs(NetworkDir(), 0755); !st.ok()) return st;
  if (auto st = RunNftScript("ruleset-removal.nft", RenderRulesetRemoval(options_.table_prefix));
      !st.ok()) {
    return st;
  }
  host_ready_ = false;
  if (!LinkExists(options_.bridge)) return absl::OkStatus();
  auto r = Run({options_.ip_path, "-j", "link", "show", "master", options_.bridge});
  if (!r.ok()) return r.status();
  auto j = nlohmann::json::parse(r->ok() ? r->stdout_text : "", nullptr, false);
  if (r->ok() && j.is_array() && !j.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "network: bridge ", options_.bridge, " still has ", j.size(), " port(s); kept"));
  }
  return RunOk("delete bridge", {options_.ip_path, "link", "del", "dev", options_.bridge});
}

}  // namespace osgv
