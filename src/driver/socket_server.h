// The driver's Unix socket, hardened the way upstream's external drivers
// do it (gateway-contract.md §2.3), plus a per-connection peer-uid check.
//
// gRPC C++ cannot tell us who connected, so we accept() ourselves, read
// SO_PEERCRED, and only then hand the connection to the gRPC server with
// AddInsecureChannelFromFd. A refused peer is logged and closed unserved.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "capabilities/config.h"

namespace osgv {

// Creates the parent directory (0700, or 0710/0711 when another uid or a
// group must reach the socket), refuses a symlinked or foreign-owned
// parent, replaces only a stale socket of ours, binds, and applies
// mode/group. ALREADY_EXISTS when a live driver answers on the path.
absl::StatusOr<int> BindDriverSocket(const SocketConfig& config);

class SocketServer {
 public:
  SocketServer(int listen_fd, std::string path, std::set<uint32_t> allowed_uids);
  ~SocketServer();

  // Accepts in a background thread and feeds allowed peers to `server`.
  void Start(grpc::Server* server);
  // Stops accepting and removes the socket file.
  void Stop();

 private:
  void AcceptLoop();

  int listen_fd_;
  int stop_pipe_[2] = {-1, -1};
  std::string path_;
  std::set<uint32_t> allowed_uids_;
  grpc::Server* server_ = nullptr;
  std::thread thread_;
  std::atomic<bool> stopped_{false};
};

}  // namespace osgv
