#include "lifecycle/monitor/console_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace osgv {
namespace {

int OpenAppend(const std::string& path) {
  return open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
}

}  // namespace

ConsoleLog::~ConsoleLog() {
  if (fd_ >= 0) close(fd_);
}

bool ConsoleLog::Open() {
  fd_ = OpenAppend(path_);
  if (fd_ < 0) return false;
  struct stat st {};
  size_ = fstat(fd_, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  return true;
}

void ConsoleLog::Rotate() {
  // rename first: a reader of console.log never sees it shrink in place.
  if (rename(path_.c_str(), RotatedPath(path_).c_str()) != 0) return;  // keep appending
  int fd = OpenAppend(path_);
  if (fd < 0) return;
  close(fd_);
  fd_ = fd;
  size_ = 0;
}

void ConsoleLog::Write(const char* data, size_t n) {
  if (fd_ < 0) return;
  if (max_ > 0 && size_ > 0 && size_ + n > max_) Rotate();
  size_t off = 0;
  while (off < n) {
    ssize_t w = write(fd_, data + off, n - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;  // disk full: drop the output, keep the sandbox
    off += static_cast<size_t>(w);
  }
  size_ += n;
}

}  // namespace osgv
