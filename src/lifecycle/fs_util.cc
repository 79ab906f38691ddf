#include "lifecycle/fs_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace osgv {
namespace fs = std::filesystem;

absl::Status ErrnoStatus(const std::string& what, const std::string& path) {
  int e = errno;
  std::string msg = absl::StrCat(what, " ", path, ": ", strerror(e));
  if (e == ENOENT) return absl::NotFoundError(msg);
  return absl::InternalError(msg);
}

absl::Status FsyncDir(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open", dir);
  int r = fsync(fd);
  close(fd);
  return r == 0 ? absl::OkStatus() : ErrnoStatus("fsync", dir);
}

namespace {

absl::Status WriteAndRename(const std::string& path, const std::string& content, int mode,
                            bool durable) {
  std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoStatus("create", tmp);
  fchmod(fd, mode);
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = write(fd, content.data() + off, content.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      auto st = ErrnoStatus("write", tmp);
      close(fd);
      unlink(tmp.c_str());
      return st;
    }
    off += static_cast<size_t>(n);
  }
  if (durable && fsync(fd) != 0) {
    auto st = ErrnoStatus("fsync", tmp);
    close(fd);
    unlink(tmp.c_str());
    return st;
  }
  close(fd);
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    auto st = ErrnoStatus("rename", tmp);
    unlink(tmp.c_str());
    return st;
  }
  if (!durable) return absl::OkStatus();
  std::string parent = fs::path(path).parent_path().string();
  return FsyncDir(parent.empty() ? "." : parent);
}

}  // namespace

absl::Status WriteFileAtomic(const std::string& path, const std::string& content, int mode) {
  return WriteAndRename(path, content, mode, /*durable=*/true);
}

absl::Status WriteFileReplace(const std::string& path, const std::string& content, int mode) {
  return WriteAndRename(path, content, mode, /*durable=*/false);
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    // An ifstream "opens" a directory and reads nothing: not an empty file.
    errno = EISDIR;
    return ErrnoStatus("read", path);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    errno = fs::exists(path) ? EACCES : ENOENT;
    return ErrnoStatus("read", path);
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::Status MakeDirs(const std::string& path, int mode) {
  std::error_code ec;
  fs::path p(path);
  std::vector<fs::path> missing;
  for (fs::path cur = p; !cur.empty() && !fs::exists(cur, ec); cur = cur.parent_path()) {
    missing.push_back(cur);
    if (cur == cur.parent_path()) break;
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (mkdir(it->c_str(), mode) != 0 && errno != EEXIST) return ErrnoStatus("mkdir", it->string());
    chmod(it->c_str(), mode);
  }
  return absl::OkStatus();
}

absl::Status RemoveTree(const std::string& path) {
  struct stat root;
  if (lstat(path.c_str(), &root) != 0) {
    return errno == ENOENT ? absl::OkStatus() : ErrnoStatus("lstat", path);
  }
  std::error_code ec;
  if (S_ISDIR(root.st_mode)) {
    for (const auto& entry : fs::directory_iterator(path, ec)) {
      struct stat st;
      if (lstat(entry.path().c_str(), &st) != 0) continue;
      if (S_ISDIR(st.st_mode) && st.st_dev != root.st_dev) {
        return absl::FailedPreconditionError(
            absl::StrCat("refusing to remove ", entry.path().string(), ": a mount point"));
      }
      auto s = RemoveTree(entry.path().string());
      if (!s.ok()) return s;
    }
    if (rmdir(path.c_str()) != 0 && errno != ENOENT) return ErrnoStatus("rmdir", path);
  } else if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus("unlink", path);
  }
  return absl::OkStatus();
}

}  // namespace osgv
