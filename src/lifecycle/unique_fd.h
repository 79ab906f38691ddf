// A plain file descriptor closed when it goes out of scope: the one holder
// for descriptors that lifecycle code opens and uses within a function.
// (Classes that own a descriptor for longer, such as FileLock and BlobFile,
// keep their own, with the behaviour their owners need.)
#pragma once

#include <unistd.h>

namespace osgv {

class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  ~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace osgv
