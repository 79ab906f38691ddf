// Host-side bait for the boundary probes: things that exist on the host,
// carry a random token, and must never be seen or touched from a sandbox.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace osgv {

class HostFixtures {
 public:
  // Creates the sentinel file, starts the marker process and the loopback
  // listener, and puts env_token into our environment (so the monitors and
  // runsc inherit it) — all before any sandbox boots. The sentinel goes into
  // `in_dir` (an existing directory, for a test that wants to mount it into
  // the sandbox on purpose) or, when empty, into a fresh
  // /var/tmp/osgv-probe-XXXXXX.
  static absl::StatusOr<std::unique_ptr<HostFixtures>> Start(const std::string& in_dir = "");
  // Kills the marker, closes the listener, removes the sentinel, and the
  // dir too when Start made it.
  ~HostFixtures();

  std::string dir;           // where the sentinel is, outside any rootfs
  std::string sentinel;      // dir + "/sentinel", world-readable
  std::string secret;        // its content, random
  pid_t marker_pid = -1;     // `sleep` running under argv[0] = marker_token
  std::string marker_token;
  int port = 0;              // TCP listener on 127.0.0.1
  std::atomic<int> accepted{0};  // connections it accepted
  std::string env_token;     // value of OSGV_PROBE_ENV in our environment

  bool MarkerAlive() const;

 private:
  bool owns_dir_ = false;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread accept_thread_;
};

// n random bytes as 2n lowercase hex digits; INTERNAL when the CSPRNG fails.
absl::StatusOr<std::string> RandomToken(size_t n);

}  // namespace osgv
