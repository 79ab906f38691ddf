// A host TCP listener for the network live tests: it stands in for the
// gateway (or any host service a sandbox must not reach), answers each
// connection with a fixed line, and records what clients send, so a test
// can tell which connections arrived and what came over them.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace osgv::live {

class TcpListener {
 public:
  // Binds ip:port, retrying until `bind_within` passes (the address may be
  // a bridge the driver is still bringing up). With `hold_open`, accepted
  // connections stay open until the client closes them (a supervisor's
  // session); otherwise each is closed right after the reply.
  TcpListener(const std::string& ip, uint16_t port, std::string reply, bool hold_open = false,
              std::chrono::milliseconds bind_within = std::chrono::milliseconds(0));
  ~TcpListener();

  bool ok() const { return fd_ >= 0; }
  int accepted() const { return accepted_; }
  std::string received() const;  // everything every client sent, in arrival order

 private:
  void Serve();

  std::string reply_;
  bool hold_open_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  mutable std::mutex mu_;
  std::string received_;
  std::thread thread_;
};

// From the host: connect, read until EOF or 2 s pass; "" when refused.
std::string HostProbe(const std::string& ip, uint16_t port);

}  // namespace osgv::live
