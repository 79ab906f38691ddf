// In-sandbox paths that belong to OpenShell's control plane
// (gateway-contract.md §6.1; upstream crates/openshell-core/src/container_paths.rs).
//
// The supervisor binary, the token, the client TLS files, the SSH socket and
// the supervisor's network namespaces live below these roots. A user-chosen
// mount or directory that overlaps one of them could replace the supervisor
// or read its credentials, so every path a request can name is checked here.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace osgv {

// The reserved roots, in upstream's order.
const std::vector<std::string>& ReservedSandboxPaths();

// Fixed driver-owned paths below the roots (upstream's spelling).
inline constexpr char kSupervisorBinaryPath[] = "/opt/openshell/bin/openshell-sandbox";
inline constexpr char kSandboxTokenPath[] = "/etc/openshell/auth/sandbox.jwt";
inline constexpr char kTlsCaPath[] = "/etc/openshell/tls/client/ca.crt";
inline constexpr char kTlsCertPath[] = "/etc/openshell/tls/client/tls.crt";
inline constexpr char kTlsKeyPath[] = "/etc/openshell/tls/client/tls.key";
inline constexpr char kSshSocketPath[] = "/run/openshell/ssh.sock";

// OK unless `path` is equal to, below, or above a reserved root. Comparison is
// by whole components ("/etc/openshellx" is fine). The path must be absolute
// and normalized (no "", "." or ".." components; one trailing '/' is allowed),
// because a path we would have to normalize can be read differently by
// whoever resolves it later. "/var/run/..." is also checked as "/run/...",
// since images commonly make /var/run a symlink to /run.
//
// Every rejection is INVALID_ARGUMENT and starts with `field`, e.g.
//   "sandbox.spec.mounts[0].target: '/etc' overlaps the reserved OpenShell
//    path '/etc/openshell'".
absl::Status CheckNotReserved(const std::string& field, const std::string& path);

}  // namespace osgv
