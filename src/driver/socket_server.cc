#include "driver/socket_server.h"

#include <fcntl.h>
#include <grp.h>
#include <grpcpp/server_posix.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace osgv {
namespace {

absl::Status Errno(const std::string& what) {
  return absl::InternalError(absl::StrCat(what, ": ", strerror(errno)));
}

bool OthersNeedAccess(const SocketConfig& c) {
  uid_t me = geteuid();
  for (uint32_t uid : c.allowed_uids) {
    if (uid != me) return true;
  }
  return !c.group.empty();
}

absl::StatusOr<gid_t> GroupId(const std::string& name) {
  gid_t numeric = 0;
  if (absl::SimpleAtoi(name, &numeric)) return numeric;  // a gid needs no entry
  struct group* g = getgrnam(name.c_str());
  if (g == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("socket.group: no such group '", name, "'"));
  }
  return g->gr_gid;
}

absl::Status PrepareParent(const SocketConfig& c) {
  std::string parent = std::filesystem::path(c.path).parent_path().string();
  struct stat st;
  if (lstat(parent.c_str(), &st) != 0) {
    if (errno != ENOENT) return Errno(absl::StrCat("lstat ", parent));
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) return absl::InternalError(absl::StrCat("create ", parent, ": ", ec.message()));
    if (lstat(parent.c_str(), &st) != 0) return Errno(absl::StrCat("lstat ", parent));
  }
  if (S_ISLNK(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("socket directory ", parent, " is a symlink; refusing to use it"));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(parent, " is not a directory"));
  }
  if (st.st_uid != geteuid()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "socket directory ", parent, " is owned by uid ", st.st_uid, ", not by us (uid ",
        geteuid(), "); refusing to use it"));
  }
  // Other users need to traverse the directory to reach the socket; they
  // never need to list it.
  mode_t mode = 0700;
  if (!c.group.empty()) {
    auto gid = GroupId(c.group);
    if (!gid.ok()) return gid.status();
    if (chown(parent.c_str(), static_cast<uid_t>(-1), *gid) != 0) return Errno("chgrp " + parent);
    mode = 0710;
  } else if (OthersNeedAccess(c)) {
    mode = 0711;
  }
  if (chmod(parent.c_str(), mode) != 0) return Errno("chmod " + parent);
  return absl::OkStatus();
}

// A socket file already at the path: ours and dead is replaced; ours and
// alive means another driver is serving; anything else is not touched.
absl::Status ClearStaleSocket(const std::string& path, const sockaddr_un& addr) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    return errno == ENOENT ? absl::OkStatus() : Errno("lstat " + path);
  }
  if (!S_ISSOCK(st.st_mode) || st.st_uid != geteuid()) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " exists but is not an owned Unix socket; refusing to replace it"));
  }
  int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  bool alive = connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  close(probe);
  if (alive) {
    return absl::AlreadyExistsError(absl::StrCat(
        "another driver is already serving on ", path, "; stop it first or use another --socket"));
  }
  spdlog::info("replacing stale socket {}", path);
  if (unlink(path.c_str()) != 0) return Errno("unlink " + path);
  return absl::OkStatus();
}

}  // namespace

namespace {

// Binds `fd` at a fresh path inside a private (0700) directory next to the
// target, where no other user can reach it whatever mode the socket gets
// from the umask; applies mode and group there; then moves it into place
// without replacing anything. The process-wide umask stays untouched: it
// is shared with every thread, which may be creating files right now.
absl::Status BindPrivately(int fd, const SocketConfig& c) {
  std::string parent = std::filesystem::path(c.path).parent_path().string();
  std::string dir = parent + "/.osgv-XXXXXX";
  const std::string staged_suffix = "/s";
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (dir.size() + staged_suffix.size() >= sizeof addr.sun_path) {
    return absl::InvalidArgumentError(absl::StrCat(
        "socket.path: its directory must be at most ",
        sizeof addr.sun_path - 1 - staged_suffix.size() - (dir.size() - parent.size()),
        " bytes long, to bind the socket privately before moving it into place"));
  }
  if (mkdtemp(dir.data()) == nullptr) return Errno("mkdtemp " + dir);
  const std::string staged = dir + staged_suffix;
  std::memcpy(addr.sun_path, staged.c_str(), staged.size() + 1);
  auto cleanup = [&] {
    unlink(staged.c_str());
    rmdir(dir.c_str());
  };
  mode_t mode = c.mode;
  absl::Status st;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    st = Errno(absl::StrCat("bind ", staged));
  } else if (!c.group.empty()) {
    auto gid = GroupId(c.group);
    if (!gid.ok()) {
      st = gid.status();
    } else if (chown(staged.c_str(), static_cast<uid_t>(-1), *gid) != 0) {
      st = Errno("chgrp " + staged);
    }
    mode |= 0060;
  }
  if (st.ok() && chmod(staged.c_str(), mode) != 0) st = Errno("chmod " + staged);
  // NOREPLACE: a driver that bound the path since ClearStaleSocket keeps it.
  if (st.ok() && renameat2(AT_FDCWD, staged.c_str(), AT_FDCWD, c.path.c_str(),
                           RENAME_NOREPLACE) != 0) {
    st = errno == EEXIST ? absl::AlreadyExistsError(absl::StrCat(
                               c.path, " appeared while binding; another driver is starting"))
                         : Errno(absl::StrCat("rename ", staged, " to ", c.path));
  }
  cleanup();
  return st;
}

}  // namespace

absl::StatusOr<int> BindDriverSocket(const SocketConfig& c) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (c.path.size() >= sizeof addr.sun_path) {
    return absl::InvalidArgumentError(absl::StrCat("socket.path: longer than ",
                                                   sizeof addr.sun_path - 1, " bytes"));
  }
  std::memcpy(addr.sun_path, c.path.c_str(), c.path.size() + 1);
  if (auto s = PrepareParent(c); !s.ok()) return s;
  if (auto s = ClearStaleSocket(c.path, addr); !s.ok()) return s;

  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket");
  if (auto st = BindPrivately(fd, c); !st.ok()) {
    close(fd);
    return st;
  }
  if (listen(fd, 128) != 0) {
    auto st = Errno(absl::StrCat("listen ", c.path));
    close(fd);
    unlink(c.path.c_str());
    return st;
  }
  return fd;
}

SocketServer::SocketServer(int listen_fd, std::string path, std::set<uint32_t> allowed_uids)
    : listen_fd_(listen_fd), path_(std::move(path)), allowed_uids_(std::move(allowed_uids)) {
  if (pipe2(stop_pipe_, O_CLOEXEC) != 0) stop_pipe_[0] = stop_pipe_[1] = -1;
}

SocketServer::~SocketServer() { Stop(); }

void SocketServer::Start(grpc::Server* server) {
  server_ = server;
  thread_ = std::thread([this] { AcceptLoop(); });
}

void SocketServer::Stop() {
  if (stopped_.exchange(true)) return;
  if (stop_pipe_[1] >= 0) (void)!write(stop_pipe_[1], "x", 1);
  if (thread_.joinable()) thread_.join();
  close(listen_fd_);
  unlink(path_.c_str());
  for (int fd : stop_pipe_) {
    if (fd >= 0) close(fd);
  }
}

void SocketServer::AcceptLoop() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("socket: poll: {}", strerror(errno));
      return;
    }
    if (fds[1].revents) return;
    if (!fds[0].revents) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) {
        spdlog::warn("socket: accept: {}", strerror(errno));
      }
      continue;
    }
    ucred cred{};
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
      spdlog::warn("socket: refused a client whose credentials cannot be read: {}",
                   strerror(errno));
      close(fd);
      continue;
    }
    if (!allowed_uids_.count(cred.uid)) {
      spdlog::warn("socket: refused client uid={} pid={}: uid not in socket.allowed_uids",
                   cred.uid, cred.pid);
      close(fd);
      continue;
    }
    spdlog::debug("socket: accepted client uid={} pid={}", cred.uid, cred.pid);
    grpc::AddInsecureChannelFromFd(server_, fd);
  }
}

}  // namespace osgv
