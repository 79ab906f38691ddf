// The gateway's SandboxPolicy (v0.1.x / Ryno, spec field 7) as the network
// fence can enforce it: endpoints by host name or IP and port, everything
// else denied. What a fence of IPs and ports cannot express (host globs,
// L7 rules, per-binary rules, middlewares, credential bindings, the
// filesystem and Landlock sections) is listed, one line each, so that the
// operator is told instead of the policy being silently narrowed or
// widened (docs/generations.md, "The network fence").
#pragma once

#include "openshell_gvisor/sandbox.h"
#include "sandbox.pb.h"

namespace osgv {

SandboxNetworkPolicy NetworkPolicyFromProto(const ::openshell::sandbox::v1::SandboxPolicy& policy);

}  // namespace osgv
