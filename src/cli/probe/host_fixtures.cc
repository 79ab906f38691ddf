#include "cli/probe/host_fixtures.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "lifecycle/fs_util.h"
#include "lifecycle/random_hex.h"

extern char** environ;

namespace osgv {

absl::StatusOr<std::string> RandomToken(size_t n) { return RandomHex(n); }

absl::StatusOr<std::unique_ptr<HostFixtures>> HostFixtures::Start(const std::string& in_dir) {
  auto f = std::make_unique<HostFixtures>();
  if (in_dir.empty()) {
    std::string tmpl = "/var/tmp/osgv-probe-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) {
      return absl::InternalError(absl::StrCat("mkdtemp: ", strerror(errno)));
    }
    f->dir = tmpl;
    f->owns_dir_ = true;
    chmod(f->dir.c_str(), 0755);  // readable by anyone on the host: only the boundary stops it
  } else {
    struct stat st{};
    if (stat(in_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return absl::InvalidArgumentError(absl::StrCat("--fixtures-dir ", in_dir, ": not a directory"));
    }
    f->dir = in_dir;
  }
  f->sentinel = f->dir + "/sentinel";
  if (!f->owns_dir_ && access(f->sentinel.c_str(), F_OK) == 0) {
    std::string taken = f->sentinel;
    f->sentinel.clear();  // not ours: the destructor must leave it
    return absl::AlreadyExistsError(
        absl::StrCat("--fixtures-dir: ", taken, " exists; probe will not overwrite it"));
  }
  auto secret = RandomToken(12);
  auto marker = RandomToken(6);
  auto env_token = RandomToken(8);
  for (const auto* token : {&secret, &marker, &env_token}) {
    if (!token->ok()) return token->status();
  }
  f->secret = "osgv-secret-" + *secret;
  if (auto st = WriteFileReplace(f->sentinel, f->secret + "\n", 0644); !st.ok()) return st;

  f->marker_token = "osgvmarker" + *marker;
  std::string seconds = "600";
  char* argv[] = {f->marker_token.data(), seconds.data(), nullptr};
  if (int e = posix_spawn(&f->marker_pid, "/bin/sleep", nullptr, nullptr, argv, environ); e != 0) {
    return absl::InternalError(absl::StrCat("spawn /bin/sleep: ", strerror(e)));
  }

  f->env_token = "osgvenv" + *env_token;
  setenv("OSGV_PROBE_ENV", f->env_token.c_str(), 1);

  f->listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (f->listen_fd_ < 0 || bind(f->listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      listen(f->listen_fd_, 16) != 0 ||
      getsockname(f->listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return absl::InternalError(absl::StrCat("loopback listener: ", strerror(errno)));
  }
  f->port = ntohs(addr.sin_port);
  HostFixtures* self = f.get();
  f->accept_thread_ = std::thread([self] {
    while (!self->stop_) {
      pollfd p{self->listen_fd_, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      int c = accept4(self->listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      ++self->accepted;
      close(c);
    }
  });
  return f;
}

bool HostFixtures::MarkerAlive() const {
  return marker_pid > 0 && waitpid(marker_pid, nullptr, WNOHANG) == 0;
}

HostFixtures::~HostFixtures() {
  stop_ = true;
  if (accept_thread_.joinable()) accept_thread_.join();
  if (listen_fd_ >= 0) close(listen_fd_);
  if (marker_pid > 0) {
    kill(marker_pid, SIGKILL);
    waitpid(marker_pid, nullptr, 0);
  }
  unsetenv("OSGV_PROBE_ENV");
  if (owns_dir_) {
    RemoveTree(dir).IgnoreError();
  } else if (!sentinel.empty()) {
    unlink(sentinel.c_str());
  }
}

}  // namespace osgv
