#include "lifecycle/migration/upper_entry_policy.h"

#include <sys/stat.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace osgv {
namespace {

// How many entry names a warning lists before "...".
constexpr size_t kShown = 5;

std::string DeviceName(const char* kind, archive_entry* entry) {
  return absl::StrCat(kind, " ", archive_entry_rdevmajor(entry), ":",
                      archive_entry_rdevminor(entry));
}

std::string TypeName(archive_entry* entry) {
  switch (archive_entry_filetype(entry)) {
    case AE_IFCHR:
      return DeviceName("character device", entry);
    case AE_IFBLK:
      return DeviceName("block device", entry);
    case AE_IFIFO:
      return "FIFO";
    case AE_IFSOCK:
      return "socket";
    default:
      return absl::StrCat("file of type 0", absl::Hex(archive_entry_filetype(entry)));
  }
}

bool IsWhiteout(archive_entry* entry) {
  return archive_entry_filetype(entry) == AE_IFCHR && archive_entry_rdevmajor(entry) == 0 &&
         archive_entry_rdevminor(entry) == 0;
}

// A hard link's inode is its target's, which went through this policy when
// it was written; its own type field says nothing about what lands on disk.
bool AllowedType(archive_entry* entry) {
  if (archive_entry_hardlink(entry) != nullptr) return true;
  mode_t type = archive_entry_filetype(entry);
  return type == AE_IFREG || type == AE_IFDIR || type == AE_IFLNK || IsWhiteout(entry);
}

void ClearSetId(archive_entry* entry, UpperEntryChanges* changes) {
  mode_t perm = archive_entry_perm(entry);
  // Also on hard links: libarchive applies a link entry's mode to the
  // target when the entry carries data.
  mode_t clear = S_ISUID | (archive_entry_filetype(entry) == AE_IFDIR ? 0 : S_ISGID);
  if ((perm & clear) == 0) return;
  archive_entry_set_perm(entry, perm & ~clear);
  changes->setid_cleared = true;
}

void FilterXattrs(archive_entry* entry, UpperEntryChanges* changes) {
  std::vector<std::pair<std::string, std::string>> keep;
  const char* name = nullptr;
  const void* value = nullptr;
  size_t size = 0;
  archive_entry_xattr_reset(entry);
  while (archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK) {
    // libarchive's pax reader may list an attribute twice (its own and
    // the SCHILY spelling of the same header).
    if (name != nullptr && std::string(name) == kOverlayOpaqueXattr) {
      if (keep.empty()) keep.emplace_back(name, std::string(static_cast<const char*>(value), size));
    } else {
      changes->dropped_xattrs.push_back(name ? name : "");
    }
  }
  if (changes->dropped_xattrs.empty()) return;
  auto& dropped = changes->dropped_xattrs;
  std::sort(dropped.begin(), dropped.end());
  dropped.erase(std::unique(dropped.begin(), dropped.end()), dropped.end());
  archive_entry_xattr_clear(entry);
  for (const auto& [k, v] : keep) archive_entry_xattr_add_entry(entry, k.c_str(), v.data(), v.size());
}

std::string Counted(size_t n, const char* one, const char* many) {
  return absl::StrCat(n, " ", n == 1 ? one : many);
}

std::string FirstFew(const std::vector<std::string>& names, size_t total) {
  return absl::StrCat(absl::StrJoin(names, ", "), total > names.size() ? ", ..." : "");
}

}  // namespace

absl::Status ApplyUpperEntryPolicy(archive_entry* entry, const std::string& name,
                                   UpperEntryChanges* changes) {
  *changes = UpperEntryChanges{};
  if (!AllowedType(entry)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "archive entry '", name, "' is a ", TypeName(entry),
        "; upper/ may hold only regular files, directories, symlinks, hard links and overlay "
        "whiteouts (character devices 0:0)"));
  }
  ClearSetId(entry, changes);
  FilterXattrs(entry, changes);
  if (archive_entry_acl_types(entry) != 0) {
    archive_entry_acl_clear(entry);
    changes->acl_dropped = true;
  }
  return absl::OkStatus();
}

void UpperEntryReport::Add(const std::string& name, const UpperEntryChanges& c) {
  auto note = [](Kind& kind, std::string shown) {
    if (kind.first.size() < kShown) kind.first.push_back(std::move(shown));
  };
  if (c.setid_cleared) {
    ++setid_.count;
    note(setid_, name);
  }
  if (!c.dropped_xattrs.empty()) {
    xattrs_.count += c.dropped_xattrs.size();
    ++xattr_entries_;
    note(xattrs_, absl::StrCat(name, " (", absl::StrJoin(c.dropped_xattrs, ", "), ")"));
  }
  if (c.acl_dropped) {
    ++acls_.count;
    note(acls_, name);
  }
}

std::vector<std::string> UpperEntryReport::Warnings() const {
  std::vector<std::string> out;
  if (setid_.count > 0) {
    out.push_back(absl::StrCat(
        "setuid/setgid bits removed from ", Counted(setid_.count, "file", "files"), " (",
        FirstFew(setid_.first, setid_.count),
        "): an imported archive may not place setuid or setgid programs on this host; "
        "reinstall them inside the sandbox if it needs them"));
  }
  if (xattrs_.count > 0) {
    out.push_back(absl::StrCat(
        Counted(xattrs_.count, "extended attribute", "extended attributes"), " dropped (",
        FirstFew(xattrs_.first, xattr_entries_), "): import keeps only ", kOverlayOpaqueXattr));
  }
  if (acls_.count > 0) {
    out.push_back(absl::StrCat("ACLs dropped from ", Counted(acls_.count, "entry", "entries"), " (",
                               FirstFew(acls_.first, acls_.count),
                               "): import restores owners and modes only"));
  }
  return out;
}

}  // namespace osgv
