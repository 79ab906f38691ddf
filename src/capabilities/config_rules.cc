// Which configuration values are acceptable (config_rules.h).
#include "capabilities/config_rules.h"

#include "capabilities/admission_policy.h"

#include <arpa/inet.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "capabilities/image_reference.h"
#include "capabilities/quantity.h"

namespace osgv::config_rules {

absl::Status KeyError(absl::string_view key, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(key, ": ", why));
}

absl::Status FirstError(std::initializer_list<absl::Status> statuses) {
  for (const absl::Status& status : statuses) {
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

namespace {

absl::Status CheckOneOf(absl::string_view key, const std::string& value,
                        std::initializer_list<absl::string_view> allowed) {
  for (absl::string_view choice : allowed) {
    if (value == choice) return absl::OkStatus();
  }
  return KeyError(key, absl::StrCat("must be one of ",
                                    absl::StrJoin(allowed, ", "), " (got ",
                                    QuoteForMessage(value), ")"));
}

bool HasNul(absl::string_view text) {
  return text.find('\0') != absl::string_view::npos;
}

absl::Status CheckAbsolutePath(absl::string_view key, const std::string& path) {
  if (path.empty() || path[0] != '/' || HasNul(path)) {
    return KeyError(key, absl::StrCat("must be an absolute path (got ",
                                      QuoteForMessage(path), ")"));
  }
  return absl::OkStatus();
}

absl::Status CheckOptionalAbsolutePath(absl::string_view key,
                                       const std::string& path) {
  return path.empty() ? absl::OkStatus() : CheckAbsolutePath(key, path);
}

// The socket must stay usable by its owner and may be opened wider (to a
// group, or to everyone for a gateway whose uid is in socket.allowed_uids):
// the SO_PEERCRED uid check, not the file mode, is what admits a client.
// Execute and special bits mean nothing on a socket.
absl::Status CheckSocketMode(uint32_t mode) {
  constexpr uint32_t kRequired = 0600;
  constexpr uint32_t kAllowed = 0666;
  if ((mode & kRequired) == kRequired && (mode & ~kAllowed) == 0) {
    return absl::OkStatus();
  }
  return KeyError("socket.mode",
                  absl::StrFormat("must keep owner read/write (0600) and may "
                                  "add only group or world read/write bits, "
                                  "e.g. 0660 (got %04o)",
                                  mode));
}

absl::Status CheckDriverName(const std::string& name) {
  bool ok = !name.empty();
  for (char c : name) {
    ok = ok && (absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
                c == '-' || c == '_');
  }
  if (ok) return absl::OkStatus();
  return KeyError("driver_name",
                  absl::StrCat("must be non-empty ASCII letters, digits, '-' "
                               "or '_' (got ",
                               QuoteForMessage(name), ")"));
}

absl::Status CheckRange(absl::string_view key, uint64_t value, uint64_t min,
                        uint64_t max) {
  if (value >= min && value <= max) return absl::OkStatus();
  return KeyError(key, absl::StrCat("must be between ", min, " and ", max,
                                    " (got ", value, ")"));
}

absl::Status CheckPidsLimit(uint64_t pids_limit) {
  if (pids_limit == 0 ||
      (pids_limit >= kMinPidsLimit && pids_limit <= kMaxPidsLimit)) {
    return absl::OkStatus();
  }
  return KeyError("sandbox.pids_limit",
                  absl::StrCat("must be 0 (no limit) or between ",
                               kMinPidsLimit, " and ", kMaxPidsLimit,
                               "; runsc counts host threads, about 31 for an "
                               "idle sandbox (got ",
                               pids_limit, ")"));
}

absl::Status CheckTimeout(std::chrono::milliseconds timeout) {
  if (timeout.count() > 0) return absl::OkStatus();
  return KeyError("runsc.timeout", "must be greater than zero");
}

// An https:// endpoint needs the whole client TLS trio (the supervisor
// refuses to start otherwise), and each file must be given absolutely.
absl::Status CheckSupervisorGateway(const Config& c) {
  if (c.supervisor.binary.empty() || !c.gateway.endpoint.empty()) return absl::OkStatus();
  return KeyError("gateway.endpoint",
                  "required when supervisor.binary is set (the supervisor dials the gateway)");
}

absl::Status CheckGatewayTls(const GatewayConfig& g) {
  for (auto [key, path] : {std::pair<const char*, const std::string*>{"gateway.tls_ca", &g.tls_ca},
                           {"gateway.tls_cert", &g.tls_cert},
                           {"gateway.tls_key", &g.tls_key}}) {
    if (auto s = CheckOptionalAbsolutePath(key, *path); !s.ok()) return s;
    if (absl::StartsWith(g.endpoint, "https://") && path->empty()) {
      return KeyError(key, absl::StrCat("required because gateway.endpoint is https:// (",
                                        QuoteForMessage(g.endpoint), ")"));
    }
  }
  if (!g.endpoint.empty() && !absl::StartsWith(g.endpoint, "http://") &&
      !absl::StartsWith(g.endpoint, "https://")) {
    return KeyError("gateway.endpoint", absl::StrCat("must start with http:// or https:// (got ",
                                                     QuoteForMessage(g.endpoint), ")"));
  }
  return absl::OkStatus();
}

// Requests' oci: layouts are never read from the driver's own state
// (CheckOciLayoutDir), so a root or default image there is a mistake.
absl::Status CheckOciRoots(const Config& c) {
  std::vector<std::string> own = {c.state_dir};
  if (!c.checkpoint_dir.empty()) own.push_back(c.checkpoint_dir);
  for (size_t i = 0; i < c.images.oci_roots.size(); ++i) {
    const std::string key = absl::StrCat("images.oci_roots[", i, "]");
    const std::string& root = c.images.oci_roots[i];
    if (auto s = CheckAbsolutePath(key, root); !s.ok()) return s;
    for (const std::string& dir : own) {
      if (PathIsWithin(root, dir)) {
        return KeyError(key, absl::StrCat("must not be inside state_dir or checkpoint_dir (got ",
                                          QuoteForMessage(root), ")"));
      }
    }
  }
  absl::StatusOr<ImageReference> image = ParseImageReference(c.default_image);
  if (!c.default_image.empty() && image.ok() && !image->is_registry()) {
    for (const std::string& dir : own) {
      if (PathIsWithin(image->layout_dir, dir)) {
        return KeyError("default_image",
                        "an oci: layout must not be inside state_dir or checkpoint_dir");
      }
    }
  }
  return absl::OkStatus();
}

// The endpoint answers anyone who can reach it, without authentication:
// sandbox counts and timings are no secret, but they are nobody else's
// business either, so leaving the host is an explicit choice.
absl::Status CheckMetrics(const MetricsConfig& m) {
  if (m.listen.empty()) return absl::OkStatus();
  absl::StatusOr<ListenAddress> address = ParseListenAddress("metrics.listen", m.listen);
  if (!address.ok()) return address.status();
  if (address->loopback || m.allow_non_loopback) return absl::OkStatus();
  return KeyError("metrics.listen",
                  absl::StrCat("not a loopback address (got ", QuoteForMessage(m.listen),
                               "); the endpoint has no authentication, so serving it beyond "
                               "this host needs metrics.allow_non_loopback: true"));
}

}  // namespace

absl::Status CheckValues(const Config& c) {
  return FirstError({
      CheckOptionalAbsolutePath("socket.path", c.socket.path),
      CheckSocketMode(c.socket.mode),
      CheckAbsolutePath("state_dir", c.state_dir),
      CheckDriverName(c.driver_name),
      CheckOneOf("log.level", c.log.level,
                 {"trace", "debug", "info", "warn", "error", "critical",
                  "off"}),
      CheckOneOf("log.format", c.log.format, {"text", "json"}),
      c.runsc.path.empty() ? KeyError("runsc.path", "must not be empty")
                           : absl::OkStatus(),
      CheckOneOf("runsc.platform", c.runsc.platform,
                 {"systrap", "ptrace", "kvm"}),
      CheckTimeout(c.runsc.timeout),
      CheckOptionalAbsolutePath("runsc.debug_log_dir", c.runsc.debug_log_dir),
      CheckPidsLimit(c.sandbox.pids_limit),
      CheckOptionalAbsolutePath("checkpoint_dir", c.checkpoint_dir),
      CheckOneOf("checkpoint.compression", c.checkpoint.compression,
                 {"auto", "flate", "none"}),
      CheckOneOf("checkpoint.io", c.checkpoint.io, {"buffered", "direct"}),
      c.checkpoint.timeout.count() > 0
          ? absl::OkStatus()
          : KeyError("checkpoint.timeout", "must be greater than zero"),
      CheckOptionalAbsolutePath("supervisor.binary", c.supervisor.binary),
      CheckAbsolutePath("supervisor.workdir", c.supervisor.workdir),
      CheckGatewayTls(c.gateway),
      CheckSupervisorGateway(c),
      ParseAdmissionPolicy(c.gateway.admission_config_json).status(),
      c.images.skopeo_path.empty() ? KeyError("images.skopeo_path", "must not be empty")
                                   : absl::OkStatus(),
      CheckOptionalAbsolutePath("images.auth_file", c.images.auth_file),
      CheckOptionalAbsolutePath("images.registries_conf", c.images.registries_conf),
      CheckOptionalAbsolutePath("images.policy", c.images.policy),
      c.images.pull_timeout.count() > 0
          ? absl::OkStatus()
          : KeyError("images.pull_timeout", "must be greater than zero"),
      CheckOciRoots(c),
      CheckOneOf("network.egress", c.network.egress, {"allow", "deny"}),
      CheckRange("watch.queue_size", c.watch.queue_size, 16, 1000000),
      CheckMetrics(c.metrics),
  });
}

}  // namespace osgv::config_rules

namespace osgv {

using config_rules::KeyError;

absl::StatusOr<ListenAddress> ParseListenAddress(const std::string& key,
                                                 const std::string& text) {
  auto bad = [&] {
    return KeyError(key, absl::StrCat("must be IPv4:PORT or [IPv6]:PORT with a literal address "
                                      "and a port from 1 to 65535, e.g. 127.0.0.1:9464 (got ",
                                      QuoteForMessage(text), ")"));
  };
  size_t colon = text.rfind(':');
  if (colon == std::string::npos) return bad();
  std::string host = text.substr(0, colon);
  bool v6 = absl::StartsWith(host, "[") && absl::EndsWith(host, "]");
  if (v6) host = host.substr(1, host.size() - 2);
  absl::string_view port_text = absl::string_view(text).substr(colon + 1);
  uint32_t port = 0;
  if (port_text.empty() || port_text.size() > 5 ||
      !std::all_of(port_text.begin(), port_text.end(),
                   [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); }) ||
      !absl::SimpleAtoi(port_text, &port) || port == 0 || port > 65535) {
    return bad();
  }
  ListenAddress out;
  out.host = host;
  out.port = static_cast<uint16_t>(port);
  if (v6) {
    in6_addr a6;
    if (inet_pton(AF_INET6, host.c_str(), &a6) != 1) return bad();
    out.loopback = IN6_IS_ADDR_LOOPBACK(&a6);
  } else {
    in_addr a4;
    if (inet_pton(AF_INET, host.c_str(), &a4) != 1) return bad();
    out.loopback = (ntohl(a4.s_addr) >> 24) == 127;
  }
  return out;
}

}  // namespace osgv
