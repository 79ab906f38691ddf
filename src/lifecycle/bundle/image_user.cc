// Resolution of an image's `User` against the image's own account files,
// never the host's.
#include <fstream>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "lifecycle/bundle/oci_spec.h"

namespace osgv {
namespace {

struct Entry {
  std::string name;
  uint32_t id = 0;
  uint32_t gid = 0;                  // passwd only
  std::vector<std::string> members;  // group only
};

// Reads passwd (name:x:uid:gid:...) or group (name:x:gid:members) lines.
std::vector<Entry> ReadAccounts(const std::string& path, bool is_group) {
  std::vector<Entry> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f = absl::StrSplit(line, ':');
    if (f.size() < (is_group ? 3u : 4u)) continue;
    Entry e;
    e.name = f[0];
    if (!absl::SimpleAtoi(f[2], &e.id)) continue;
    if (is_group) {
      if (f.size() > 3 && !f[3].empty()) e.members = absl::StrSplit(f[3], ',');
    } else if (!absl::SimpleAtoi(f[3], &e.gid)) {
      continue;
    }
    out.push_back(e);
  }
  return out;
}

std::optional<Entry> Find(const std::vector<Entry>& entries, const std::string& key) {
  uint32_t numeric = 0;
  bool is_numeric = absl::SimpleAtoi(key, &numeric);
  for (const auto& e : entries) {
    if (is_numeric ? e.id == numeric : e.name == key) return e;
  }
  return std::nullopt;
}

}  // namespace

absl::StatusOr<ResolvedUser> ResolveImageUser(const std::string& user, const std::string& rootfs) {
  ResolvedUser out;
  if (user.empty()) return out;  // root, as every runtime does
  std::vector<std::string> parts = absl::StrSplit(user, absl::MaxSplits(':', 1));
  const std::string& who = parts[0];
  auto passwd = ReadAccounts(rootfs + "/etc/passwd", false);
  auto groups = ReadAccounts(rootfs + "/etc/group", true);

  auto pw = Find(passwd, who);
  if (pw) {
    out.uid = pw->id;
    out.gid = pw->gid;
  } else if (!absl::SimpleAtoi(who, &out.uid)) {
    return absl::FailedPreconditionError(
        absl::StrCat("image user '", user, "': no user '", who, "' in the image's /etc/passwd"));
  }
  if (parts.size() == 2) {
    auto gr = Find(groups, parts[1]);
    if (gr) {
      out.gid = gr->id;
    } else if (!absl::SimpleAtoi(parts[1], &out.gid)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "image user '", user, "': no group '", parts[1], "' in the image's /etc/group"));
    }
  } else if (pw) {
    // Supplementary groups the image lists for a named user.
    for (const auto& g : groups) {
      for (const auto& m : g.members) {
        if (m == pw->name && g.id != out.gid) out.additional_gids.push_back(g.id);
      }
    }
  }
  return out;
}

}  // namespace osgv
