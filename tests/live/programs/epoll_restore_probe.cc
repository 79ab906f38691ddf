// A sandbox workload that watches its own epoll instance across runsc
// checkpoint/restore (tests/live/restore_epoll_test.cc, docs/e2e.md).
//
// Event-loop programs (the OpenShell supervisor is one: Rust, tokio) keep
// one epoll instance for their whole life and register every socket on it
// with EPOLLET, then EPOLL_CTL_DEL and close it when done. This program does
// the same, fast: each turn it registers a fresh descriptor (a loopback TCP
// connection or a Unix socket pair), lets epoll report it, deletes and
// closes it; eight long-lived socket pairs and two listeners stay registered
// throughout. Every registration carries a unique id in epoll_event.data.
//
// What it checks, continuously, and writes to /status (renamed into place):
//   stale    events reported for ids that were already deleted. A correct
//            kernel never does this. gVisor before its fix of 2026-03-31
//            ("vfs: clear temporary notReady lists") can resurrect deleted
//            registrations at restore and report them; a program that
//            stores a pointer in epoll_event.data (tokio does) then follows
//            a dangling pointer.
//   blind    how long a connection to one of its listeners has gone
//            unreported (a listener that epoll never reports again).
//   turns    how many turns the loop made: it only grows, so a restored
//            sandbox shows a value past the one it had when stopped, where a
//            cold boot would start again from 0.
//
// Static, so it runs in any image. No argument; runs until killed.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <unordered_set>

namespace {

int64_t NowMs() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return int64_t{t.tv_sec} * 1000 + t.tv_nsec / 1000000;
}

void WriteStatus(long turns, long stale, long blind_ms, long accepted) {
  FILE* f = std::fopen("/status.new", "w");
  if (f == nullptr) return;
  std::fprintf(f, "turns=%ld stale=%ld blind_ms=%ld accepted=%ld\n", turns, stale, blind_ms, accepted);
  std::fclose(f);
  std::rename("/status.new", "/status");
}

class Registry {
 public:
  explicit Registry(int ep) : ep_(ep) {}
  uint64_t Add(int fd, uint32_t events) {
    uint64_t id = next_++;
    epoll_event e{};
    e.events = events | EPOLLET;
    e.data.u64 = id;
    if (epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &e) == 0) live_.insert(id);
    return id;
  }
  void Remove(int fd, uint64_t id) {
    epoll_ctl(ep_, EPOLL_CTL_DEL, fd, nullptr);
    live_.erase(id);
  }
  bool Live(uint64_t id) const { return live_.count(id) != 0; }

 private:
  int ep_;
  uint64_t next_ = 1;
  std::unordered_set<uint64_t> live_;
};

int AcceptAll(int listener) {
  int n = 0;
  for (int s; (s = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK)) >= 0; ++n) close(s);
  return n;
}

}  // namespace

int main() {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  Registry reg(ep);

  sockaddr_un unix_addr{};
  unix_addr.sun_family = AF_UNIX;
  std::strcpy(unix_addr.sun_path, "/tmp/epoll-restore-probe.sock");
  unlink(unix_addr.sun_path);
  int unix_listener = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
  sockaddr_in tcp_addr{};
  tcp_addr.sin_family = AF_INET;
  tcp_addr.sin_port = htons(7781);
  tcp_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int tcp_listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(tcp_listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(unix_listener, reinterpret_cast<sockaddr*>(&unix_addr), sizeof unix_addr) != 0 ||
      listen(unix_listener, 64) != 0 ||
      bind(tcp_listener, reinterpret_cast<sockaddr*>(&tcp_addr), sizeof tcp_addr) != 0 ||
      listen(tcp_listener, 64) != 0) {
    std::perror("epoll-restore-probe: listen");
    return 1;
  }
  const uint64_t unix_id = reg.Add(unix_listener, EPOLLIN);
  const uint64_t tcp_id = reg.Add(tcp_listener, EPOLLIN);

  int keep[8][2];
  uint64_t keep_id[8];
  for (int i = 0; i < 8; ++i) {
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, keep[i]);
    keep_id[i] = reg.Add(keep[i][0], EPOLLIN | EPOLLOUT);
  }

  long turns = 0, stale = 0, accepted = 0;
  int client = -1;  // an unanswered connection to one of our listeners
  int64_t client_since = 0;
  char buf[4096];
  for (;; ++turns) {
    // The churn: one short-lived registration per turn.
    int a = -1, b = -1;
    if (turns % 2 == 0) {
      a = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      connect(a, reinterpret_cast<sockaddr*>(&tcp_addr), sizeof tcp_addr);
    } else {
      int pair[2];
      socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, pair);
      a = pair[0];
      b = pair[1];
      (void)!write(b, "x", 1);
    }
    uint64_t churn_id = reg.Add(a, EPOLLIN | EPOLLOUT);
    (void)!write(keep[turns % 8][1], "y", 1);

    epoll_event ev[64];
    int n = epoll_wait(ep, ev, 64, 50);
    for (int i = 0; i < n; ++i) {
      uint64_t id = ev[i].data.u64;
      if (!reg.Live(id)) {
        ++stale;
        continue;
      }
      if (id == unix_id || id == tcp_id) {
        accepted += AcceptAll(id == unix_id ? unix_listener : tcp_listener);
      }
      for (int k = 0; k < 8; ++k) {
        if (id == keep_id[k]) {
          while (read(keep[k][0], buf, sizeof buf) > 0) {
          }
        }
      }
    }
    reg.Remove(a, churn_id);
    close(a);
    if (b >= 0) close(b);

    // The listeners' own check: connect, alternately to each; epoll must
    // report it (and the loop accept it) before the next connection.
    int64_t now = NowMs();
    long blind_ms = 0;
    if (client >= 0) {
      int pending = 0;
      socklen_t len = sizeof pending;
      // Accepted (and closed by us) once the peer sees EOF or a reset.
      bool answered = recv(client, buf, 1, MSG_DONTWAIT) == 0 || getsockopt(client, SOL_SOCKET, SO_ERROR, &pending, &len) != 0 || pending != 0;
      if (answered) {
        close(client);
        client = -1;
      } else {
        blind_ms = now - client_since;
      }
    }
    if (client < 0) {
      bool use_unix = turns % 4 < 2;
      client = socket(use_unix ? AF_UNIX : AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      if (use_unix) {
        connect(client, reinterpret_cast<sockaddr*>(&unix_addr), sizeof unix_addr);
      } else {
        connect(client, reinterpret_cast<sockaddr*>(&tcp_addr), sizeof tcp_addr);
      }
      client_since = now;
    }
    WriteStatus(turns, stale, blind_ms, accepted);
  }
}
