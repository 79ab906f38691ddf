#include "tcp_listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

namespace osgv::live {
namespace {

sockaddr_in Address(const std::string& ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  return a;
}

}  // namespace

TcpListener::TcpListener(const std::string& ip, uint16_t port, std::string reply, bool hold_open,
                         std::chrono::milliseconds bind_within)
    : reply_(std::move(reply)), hold_open_(hold_open) {
  auto deadline = std::chrono::steady_clock::now() + bind_within;
  for (;;) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a = Address(ip, port);
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && listen(fd, 16) == 0) {
      fd_ = fd;
      break;
    }
    close(fd);
    if (std::chrono::steady_clock::now() >= deadline) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  thread_ = std::thread([this] { Serve(); });
}

TcpListener::~TcpListener() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) close(fd_);
}

std::string TcpListener::received() const {
  std::lock_guard<std::mutex> lock(mu_);
  return received_;
}

void TcpListener::Serve() {
  std::vector<int> open;
  while (!stop_) {
    std::vector<pollfd> fds{{fd_, POLLIN, 0}};
    for (int c : open) fds.push_back({c, POLLIN, 0});
    if (poll(fds.data(), fds.size(), 100) <= 0) continue;
    std::vector<int> still_open;
    for (size_t i = 1; i < fds.size(); ++i) {
      if (fds[i].revents == 0) {
        still_open.push_back(fds[i].fd);
        continue;
      }
      char buf[4096];
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        close(fds[i].fd);
        continue;
      }
      std::lock_guard<std::mutex> lock(mu_);
      received_.append(buf, static_cast<size_t>(n));
      still_open.push_back(fds[i].fd);
    }
    if (fds[0].revents & POLLIN) {
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) {
        ++accepted_;
        (void)!write(c, reply_.data(), reply_.size());
        if (hold_open_) {
          still_open.push_back(c);
        } else {
          close(c);
        }
      }
    }
    open = std::move(still_open);
  }
  for (int c : open) close(c);
}

std::string HostProbe(const std::string& ip, uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a = Address(ip, port);
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    char buf[256];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

}  // namespace osgv::live
