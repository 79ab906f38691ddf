#include "lifecycle/console_tail.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vector>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace osgv {

namespace {

// The non-empty lines of the file's last `max_bytes` (a cut first line
// dropped), control characters made spaces.
std::vector<std::string> TailLines(const std::string& path, size_t max_bytes) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  struct stat st {};
  std::string text;
  if (fstat(fd, &st) == 0 && st.st_size > 0) {
    off_t from = st.st_size > static_cast<off_t>(max_bytes) ? st.st_size - static_cast<off_t>(max_bytes) : 0;
    text.resize(static_cast<size_t>(st.st_size - from));
    ssize_t n = pread(fd, text.data(), text.size(), from);
    text.resize(n > 0 ? static_cast<size_t>(n) : 0);
    // A cut first line is partial: drop it, unless it is all there is.
    if (from > 0) {
      size_t nl = text.find('\n');
      if (nl != std::string::npos && nl + 1 < text.size()) text.erase(0, nl + 1);
    }
  }
  close(fd);
  for (char& c : text) {
    if (c != '\n' && (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)) c = ' ';
  }
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (!line.empty()) lines.emplace_back(line);
  }
  return lines;
}

}  // namespace

std::string ConsoleTail(const std::string& path, size_t max_lines, size_t max_bytes) {
  std::vector<std::string> lines = TailLines(path, max_bytes);
  if (lines.size() < max_lines) {
    // Just rotated (monitor/console_log.h): the lines before are in the older file.
    std::vector<std::string> older = TailLines(path + ".1", max_bytes);
    lines.insert(lines.begin(), older.begin(), older.end());
  }
  if (lines.size() > max_lines) lines.erase(lines.begin(), lines.end() - static_cast<long>(max_lines));
  return absl::StrJoin(lines, " | ");
}

}  // namespace osgv
