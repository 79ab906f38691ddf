#include "cli/probe/probe_tools.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "cli/run/ephemeral_session.h"
#include "lifecycle/elf_file.h"

namespace osgv {
namespace {

absl::Status NotUsable(const std::string& path, const std::string& why) {
  return absl::FailedPreconditionError(absl::StrCat(path, ": ", why));
}

// "" when the ELF file at `path` is a static 64-bit executable for this
// host, else why it is unusable.
std::string StaticElfProblem(const std::string& path) {
  auto elf = ReadElfFacts(path);
  if (!elf.ok()) {
    return absl::StrContains(elf.status().message(), "is not an ELF executable")
               ? "not an ELF file"
               : std::string(elf.status().message());
  }
  if (!elf->is_64bit) return "not a 64-bit ELF file";
  if (!elf->native_byte_order) return "an ELF file for the other byte order";
  if (!elf->interpreter.ok()) return std::string(elf->interpreter.status().message());
  // A loader would have to come from the image, which may have none.
  if (!elf->interpreter->empty()) return "dynamically linked (has PT_INTERP), not busybox-static";
  return "";
}

bool IsPlainName(const std::string& tool) {
  return !tool.empty() && tool.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") ==
                              std::string::npos;
}

}  // namespace

absl::StatusOr<std::string> FindStaticBusybox(const std::string& path) {
  char* resolved = realpath(path.c_str(), nullptr);
  if (resolved == nullptr) {
    int e = errno;
    std::string why = strerror(e);
    if (e == ENOENT) return absl::NotFoundError(absl::StrCat(path, ": ", why));
    return NotUsable(path, why);
  }
  std::string real = resolved;
  free(resolved);
  struct stat st{};
  if (stat(real.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return NotUsable(path, "not a regular file");
  if (access(real.c_str(), X_OK) != 0) return NotUsable(path, "not executable");
  if (std::string why = StaticElfProblem(real); !why.empty()) return NotUsable(path, why);
  return real;
}

absl::Status CheckMountsLeaveProbeTools(const std::vector<HostMount>& mounts) {
  const std::string dir = kProbeToolsDir;
  for (const auto& m : mounts) {
    // Destinations are absolute and normalized by then (CheckHostMount).
    std::string d(absl::StripSuffix(m.destination, "/"));
    if (d == dir || absl::StartsWith(d, dir + "/")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--mount '", m.source, ":", m.destination, "': '", dir, "' is reserved for probe's own tools"));
    }
  }
  return absl::OkStatus();
}

ProbeTools ProbeTools::Brought(std::string host_busybox) {
  ProbeTools t;
  t.host_busybox_ = std::move(host_busybox);
  return t;
}

ProbeTools ProbeTools::FromImage(std::string why) {
  ProbeTools t;
  t.why_not_brought_ = std::move(why);
  return t;
}

ProbeTools ProbeTools::ForHost(const std::string& host_busybox) {
  auto found = FindStaticBusybox(host_busybox);
  if (found.ok()) return Brought(*found);
  return FromImage(std::string(found.status().message()));
}

std::string ProbeTools::Describe() const {
  if (brought()) return absl::StrCat("tools from host ", host_busybox_, " at ", kProbeBusyboxPath);
  return absl::StrCat("tools from the image (no busybox brought: ", why_not_brought_, ")");
}

std::vector<HostMount> ProbeTools::Mounts() const {
  if (!brought()) return {};
  return {{host_busybox_, kProbeBusyboxPath, /*read_only=*/true}};
}

std::vector<std::string> ProbeTools::Argv(const std::vector<std::string>& argv) const {
  // Through the image's shell, so a tool runs exactly when the `command -v`
  // of ListArgv found it (a busybox shell finds applets that have no link,
  // which runsc exec would not).
  std::vector<std::string> out = {"/bin/sh", "-c", "exec \"$@\"", "sh"};
  if (brought()) out = {kProbeBusyboxPath};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

std::vector<std::string> ProbeTools::ShArgv(const std::string& script) const {
  if (!brought()) return {"/bin/sh", "-c", script};
  return Argv({"sh", "-c", script});
}

std::vector<std::string> ProbeTools::KeepAlive() const {
  if (!brought()) return kKeepAlive;
  return Argv({"sleep", "2147483647"});
}

std::vector<std::string> ProbeTools::ListArgv(const std::vector<std::string>& tools) const {
  if (brought()) return Argv({"--list"});
  std::vector<std::string> names;
  for (const auto& t : tools) {
    if (IsPlainName(t)) names.push_back(t);  // they go into a script
  }
  return ShArgv(absl::StrCat("for t in ", absl::StrJoin(names, " "),
                             "; do command -v \"$t\" >/dev/null 2>&1 && echo \"$t\"; done; "
                             "echo osgv-listed"));
}

void ProbeTools::Learn(const CommandResult& listing) {
  available_.clear();
  listing_failure_.clear();
  for (absl::string_view line : absl::StrSplit(listing.stdout_text, '\n', absl::SkipEmpty())) {
    available_.insert(std::string(absl::StripAsciiWhitespace(line)));
  }
  // Busybox prints its applets; the image's shell ends with a marker.
  const bool complete = brought() ? listing.ok() : available_.erase("osgv-listed") == 1;
  if (!complete) {
    std::string why = listing.Describe();
    listing_failure_ = why.substr(0, std::min(why.find('\n'), size_t{160}));
    available_.clear();
  }
}

std::string ProbeTools::Missing(const std::vector<std::string>& needed) const {
  std::vector<std::string> missing;
  for (const auto& t : needed) {
    if (available_.count(t) == 0) missing.push_back(t);
  }
  if (missing.empty()) return "";
  const std::string names = absl::StrJoin(missing, ", ");
  if (brought()) {
    if (!listing_failure_.empty()) {
      return absl::StrCat("the brought busybox did not run (", listing_failure_, ")");
    }
    return absl::StrCat("the brought busybox has no ", names);
  }
  if (!listing_failure_.empty()) {
    return absl::StrCat("could not look for ", names, " in the image (/bin/sh: ", listing_failure_,
                        ") and no busybox was brought (", why_not_brought_, ")");
  }
  return absl::StrCat("the image has no ", names, " and no busybox was brought (", why_not_brought_, ")");
}

}  // namespace osgv
