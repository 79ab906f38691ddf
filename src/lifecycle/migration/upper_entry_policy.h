// What an imported archive may put into a sandbox's writable layer
// (upper/). The archive is untrusted input: whoever wrote it may have
// built it by hand to plant something on the importing host.
//
// Allowed: regular files, directories, symlinks, hard links (to entries
// inside upper/, checked by the importer) and overlay whiteouts
// (character devices 0:0). Refused: any other device, FIFOs, sockets.
// Defused, with a note for the operator:
//   - setuid and setgid bits are cleared (a directory keeps its setgid,
//     which only passes its group on to new files). Stripped, not refused:
//     a legitimate sandbox may have installed sudo, and refusing would
//     make its archive unimportable; the operator is told which files;
//   - every extended attribute is dropped but trusted.overlay.opaque (what
//     an overlay upper dir needs for opaque directories); in particular
//     security.capability, security.selinux and the other trusted.overlay.*
//     (redirects, origins) never reach the host;
//   - ACLs are dropped.
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace osgv {

// The one extended attribute an upper/ entry keeps.
inline constexpr char kOverlayOpaqueXattr[] = "trusted.overlay.opaque";

// What ApplyUpperEntryPolicy changed in an entry.
struct UpperEntryChanges {
  bool setid_cleared = false;
  std::vector<std::string> dropped_xattrs;  // names
  bool acl_dropped = false;
};

// Checks the entry `name` (its archive path, for messages) and edits it in
// place (mode bits, xattrs, ACLs) before it is written to disk.
// INVALID_ARGUMENT "archive entry '<name>' is a <type>; ..." for a type
// upper/ may not hold.
absl::Status ApplyUpperEntryPolicy(archive_entry* entry, const std::string& name,
                                   UpperEntryChanges* changes);

// Adds up what the policy changed across an archive, for ImportResult's
// warnings: a count and the first few paths of each kind.
class UpperEntryReport {
 public:
  void Add(const std::string& name, const UpperEntryChanges& changes);
  std::vector<std::string> Warnings() const;

 private:
  // How many, and the first few names ("name (attr, attr)" for xattrs).
  struct Kind {
    size_t count = 0;
    std::vector<std::string> first;
  };
  Kind setid_;   // files
  Kind xattrs_;  // attributes
  size_t xattr_entries_ = 0;
  Kind acls_;    // entries
};

}  // namespace osgv
