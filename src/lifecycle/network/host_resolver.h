// Name lookups for policy fences (policy_fence.h): the host names of a
// v0.1.x/Ryno sandbox's policy, resolved by the driver at create and at
// each Start, so the sandbox itself needs no DNS.
//
// Bounded: a slow or dead resolver must not hang a Create or a Start, and
// getaddrinfo(3) has no timeout of its own and cannot be cancelled. Each
// name is looked up on a thread of its own; Resolve waits for all of them
// until one shared deadline and reports a name still pending then as
// DEADLINE_EXCEEDED. A thread that outlives its deadline finishes (or fails)
// on its own, within the system resolver's own timeouts (resolv.conf
// `timeout`/`attempts`), and only then frees its state; nothing waits for it.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace osgv {

// How long Create and Start wait for all of a sandbox's names together.
inline constexpr std::chrono::milliseconds kPolicyLookupTimeout{5000};

class HostResolver {
 public:
  virtual ~HostResolver() = default;
  // Each name -> its IPv4 addresses (sorted, unique), or why there are none
  // (NOT_FOUND, DEADLINE_EXCEEDED, UNAVAILABLE).
  virtual std::map<std::string, absl::StatusOr<std::vector<std::string>>> Resolve(
      const std::vector<std::string>& names, std::chrono::milliseconds timeout) = 0;
};

// The system resolver (getaddrinfo, AF_INET), one thread per name.
class SystemHostResolver : public HostResolver {
 public:
  // One blocking lookup; the default calls getaddrinfo. Tests pass their own.
  using Lookup = std::function<absl::StatusOr<std::vector<std::string>>(const std::string&)>;

  SystemHostResolver();
  explicit SystemHostResolver(Lookup lookup);

  std::map<std::string, absl::StatusOr<std::vector<std::string>>> Resolve(
      const std::vector<std::string>& names, std::chrono::milliseconds timeout) override;

 private:
  Lookup lookup_;
};

// getaddrinfo(name, AF_INET, SOCK_STREAM): the sorted, unique addresses.
absl::StatusOr<std::vector<std::string>> LookupIpv4(const std::string& name);

}  // namespace osgv
