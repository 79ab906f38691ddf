// The sandbox's console.log, bounded. The main process's output is the
// sandbox's to choose: an agent that prints without end must not fill the
// host's disk. Once the file would pass `max_bytes`, it is renamed to
// console.log.1 (replacing the previous one) and a new file is started, so
// a sandbox keeps at most about twice `max_bytes` of output on disk, the
// newest part of it. 0 = no bound.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace osgv {

class ConsoleLog {
 public:
  ConsoleLog(std::string path, uint64_t max_bytes) : path_(std::move(path)), max_(max_bytes) {}
  ~ConsoleLog();
  ConsoleLog(const ConsoleLog&) = delete;
  ConsoleLog& operator=(const ConsoleLog&) = delete;

  // Opens (appending to) the file; false with errno set on failure.
  bool Open();
  // Best effort: the sandbox's output is never worth stopping the monitor.
  void Write(const char* data, size_t n);

  static std::string RotatedPath(const std::string& path) { return path + ".1"; }

 private:
  void Rotate();

  std::string path_;
  uint64_t max_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

}  // namespace osgv
