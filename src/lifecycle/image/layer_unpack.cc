// Applies a layer in two passes over the tarball:
//   1. collect whiteouts and opaque markers and delete what they hide
//      (skipped onto an empty target: there is nothing to hide), then
//   2. extract every other entry with archive_write_disk.
// Deleting first means an opaque marker can never remove a file the same
// layer wrote, whatever order the tar stream lists them in (the OCI spec
// lets the marker come after its siblings). It costs one extra
// decompression, which is cheap next to writing the files.
#include "lifecycle/image/layer_unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lifecycle/archive_handles.h"
#include "lifecycle/image/layer_paths.h"
#include "lifecycle/image/status_util.h"

namespace osgv {
namespace {

namespace fs = std::filesystem;
using Comps = std::vector<std::string>;

// Feeds libarchive from the blob's one descriptor; every byte is hashed on
// the way (BlobFile), so a pass over changed bytes is refused at its end.
struct PassReader {
  static constexpr size_t kReadBlock = 1 << 16;
  BlobFile* blob;
  std::unique_ptr<char[]> buf{new char[kReadBlock]};

  static la_ssize_t Read(archive* a, void* self, const void** out) {
    auto* r = static_cast<PassReader*>(self);
    ssize_t n = r->blob->Read(r->buf.get(), kReadBlock);
    if (n < 0) {
      archive_set_error(a, errno, "cannot read the layer");
      return -1;
    }
    *out = r->buf.get();
    return n;
  }
};

// Tar in any compression libarchive knows (gzip, zstd, ...). Only tar:
// an OCI layer is a tarball, and accepting zip or cpio would just widen the
// parser surface fed with untrusted bytes.
absl::StatusOr<ReadArchive> OpenLayer(PassReader& reader) {
  if (absl::Status s = reader.blob->Rewind(); !s.ok()) return s;
  ReadArchive a(archive_read_new());
  if (!a) return absl::InternalError("archive_read_new failed");
  archive_read_support_filter_all(a.get());
  archive_read_support_format_tar(a.get());
  archive_read_support_format_empty(a.get());
  if (archive_read_open(a.get(), &reader, nullptr, &PassReader::Read, nullptr) != ARCHIVE_OK) {
    return absl::FailedPreconditionError(ArchiveError(a.get()));
  }
  return a;
}

using EntryFn = std::function<absl::Status(archive* in, archive_entry* entry,
                                           const std::string& name, const Comps& comps)>;

absl::Status WalkEntries(archive* in, const EntryFn& fn) {
  for (;;) {
    archive_entry* entry = nullptr;
    int r = archive_read_next_header(in, &entry);
    if (r == ARCHIVE_EOF) return absl::OkStatus();
    // ARCHIVE_WARN still yields a usable entry (e.g. an odd pax keyword).
    if (r < ARCHIVE_WARN) {
      return absl::FailedPreconditionError(ArchiveError(in));
    }
    const char* raw = archive_entry_pathname(entry);
    if (raw == nullptr) {
      return absl::FailedPreconditionError("entry without a readable name");
    }
    std::string name = raw;
    absl::StatusOr<Comps> comps = layer::SplitEntryName(name);
    if (!comps.ok()) return comps.status();
    if (absl::Status s = fn(in, entry, name, *comps); !s.ok()) return s;
  }
}

// Runs `fn` on every entry of the layer, with its name already validated;
// one pass over the blob. Bytes that no longer hash to the digest win over
// whatever else went wrong: they are the real cause.
absl::Status ForEachEntry(BlobFile& layer, const EntryFn& fn) {
  PassReader reader{&layer};
  absl::Status walked;
  {
    absl::StatusOr<ReadArchive> in = OpenLayer(reader);
    walked = in.ok() ? WalkEntries(in->get(), fn) : in.status();
  }
  absl::Status hashed = layer.FinishPass();
  return hashed.ok() ? walked : hashed;
}

layer::Whiteout WhiteoutOf(const Comps& comps) {
  return comps.empty() ? layer::Whiteout::kNone : layer::ClassifyWhiteout(comps.back());
}

// Markers, and anything inside aufs bookkeeping dirs (".wh..wh.plnk/..."),
// describe the layer rather than belong to the filesystem.
bool IsContent(const Comps& comps) {
  for (const std::string& c : comps) {
    if (layer::ClassifyWhiteout(c) == layer::Whiteout::kMeta) return false;
  }
  return WhiteoutOf(comps) == layer::Whiteout::kNone;
}

// ---- pass 1: whiteouts -----------------------------------------------------

struct Deletions {
  std::vector<Comps> hidden;       // paths named by ".wh.<name>" markers
  std::vector<Comps> opaque_dirs;  // directories holding ".wh..wh..opq"
};

absl::StatusOr<Deletions> CollectDeletions(BlobFile& layer) {
  Deletions del;
  absl::Status s = ForEachEntry(
      layer, [&](archive*, archive_entry*, const std::string&, const Comps& comps) {
        layer::Whiteout kind = WhiteoutOf(comps);
        if (kind != layer::Whiteout::kFile && kind != layer::Whiteout::kOpaque) {
          return absl::OkStatus();
        }
        Comps dir(comps.begin(), comps.end() - 1);
        if (kind == layer::Whiteout::kOpaque) {
          del.opaque_dirs.push_back(std::move(dir));
          return absl::OkStatus();
        }
        absl::StatusOr<std::string> hidden = layer::WhiteoutTarget(comps.back());
        if (!hidden.ok()) return hidden.status();
        dir.push_back(*std::move(hidden));
        del.hidden.push_back(std::move(dir));
        return absl::OkStatus();
      });
  if (!s.ok()) return s;
  return del;
}

absl::Status RemoveTree(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);  // removes a symlink itself, never its target
  if (ec) return absl::InternalError(absl::StrCat("cannot remove ", path, ": ", ec.message()));
  return absl::OkStatus();
}

// A lower-layer path is only reachable if every parent is a real directory;
// behind a symlink or a file there is nothing of ours to delete (and
// following the symlink could delete host files).
bool Reachable(const std::string& target, const Comps& comps) {
  return layer::InspectParents(target, comps) == layer::ParentState::kDirs;
}

absl::Status ApplyDeletions(const std::string& target, const Deletions& del) {
  for (const Comps& comps : del.hidden) {
    if (comps.empty() || !Reachable(target, comps)) continue;
    if (absl::Status s = RemoveTree(layer::JoinUnder(target, comps)); !s.ok()) return s;
  }
  for (const Comps& dir_comps : del.opaque_dirs) {
    if (!Reachable(target, dir_comps)) continue;
    std::string dir = layer::JoinUnder(target, dir_comps);
    struct stat st;
    if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    std::vector<std::string> children;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      children.push_back(it->path());
    }
    if (ec) return absl::InternalError(absl::StrCat("cannot list ", dir, ": ", ec.message()));
    for (const std::string& child : children) {
      if (absl::Status s = RemoveTree(child); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

// ---- pass 2: extraction ----------------------------------------------------

// Makes room for an entry the way overlayfs layering would: an upper
// directory merges into a lower directory; anything else replaces what was
// there. Replacing (not rewriting in place) also keeps a lower-layer file's
// other hardlinks untouched, and a symlink at the final component is never
// followed (libarchive would otherwise chmod the symlink's target for a
// directory entry).
absl::Status ClearWayFor(const std::string& path, bool is_dir) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return PosixError(errno, "cannot stat", path);
  }
  if (S_ISDIR(st.st_mode)) return is_dir ? absl::OkStatus() : RemoveTree(path);
  if (::unlink(path.c_str()) != 0) {
    return PosixError(errno, "cannot replace", path);
  }
  return absl::OkStatus();
}

bool IsDeviceOrSocket(mode_t type) {
  return type == AE_IFCHR || type == AE_IFBLK || type == AE_IFSOCK;
}

// libarchive handles paths of PATH_MAX or more by chdir()ing down the tree,
// which would move the cwd of every thread in the driver; such entries are
// refused instead (no real image has them).
absl::Status CheckLength(const std::string& path, const std::string& name) {
  if (path.size() < PATH_MAX) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("layer entry '", name.substr(0, 64), "...' has a path too long to extract"));
}

// Points a hardlink entry at its target under `target`, refusing targets
// outside it.
absl::Status RebaseHardlink(archive_entry* entry, const std::string& target,
                            const std::string& name) {
  const char* link = archive_entry_hardlink(entry);
  if (link == nullptr) return absl::OkStatus();
  absl::StatusOr<Comps> comps = layer::SplitEntryName(link);
  if (!comps.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("hardlink '", name, "': ", comps.status().message()));
  }
  if (comps->empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("hardlink '", name, "' points at the layer root"));
  }
  if (absl::Status s = layer::CheckParents(target, *comps, link); !s.ok()) return s;
  std::string path = layer::JoinUnder(target, *comps);
  if (absl::Status s = CheckLength(path, link); !s.ok()) return s;
  archive_entry_set_hardlink(entry, path.c_str());
  return absl::OkStatus();
}

class Extractor {
 public:
  explicit Extractor(std::string target) : target_(std::move(target)) {}

  absl::Status Open() {
    out_.reset(archive_write_disk_new());
    if (!out_) return absl::InternalError("archive_write_disk_new failed");
    // ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS is left out on purpose: entry
    // names are validated by SplitEntryName and then prefixed with the
    // (absolute, canonical) target, which that flag would reject.
    int flags = ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                ARCHIVE_EXTRACT_SECURE_NODOTDOT;
    // Ownership and xattrs (file capabilities) can only be set by root;
    // unprivileged, libarchive also drops setuid/setgid bits it cannot honour.
    if (::geteuid() == 0) flags |= ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_XATTR;
    archive_write_disk_set_options(out_.get(), flags);
    // No archive_write_disk_set_standard_lookup(): image uids/gids are
    // numeric in the image's own namespace, not names for this host.
    return absl::OkStatus();
  }

  absl::Status Extract(archive* in, archive_entry* entry, const std::string& name,
                       const Comps& comps) {
    if (!IsContent(comps)) {
      // Checked here too, so a malformed marker is refused even when the
      // whiteout pass was skipped (an empty target).
      if (WhiteoutOf(comps) == layer::Whiteout::kFile) {
        return layer::WhiteoutTarget(comps.back()).status();
      }
      return absl::OkStatus();
    }
    mode_t type = archive_entry_filetype(entry);
    // runsc gives every sandbox its own /dev; device nodes from an image
    // would only be a way to reach host devices.
    if (IsDeviceOrSocket(type)) return absl::OkStatus();
    bool is_dir = type == AE_IFDIR;
    if (comps.empty() && !is_dir) {
      return absl::FailedPreconditionError(
          absl::StrCat("layer entry '", name, "' replaces the root with a non-directory"));
    }
    if (absl::Status s = layer::CheckParents(target_, comps, name); !s.ok()) return s;
    std::string path = layer::JoinUnder(target_, comps);
    if (absl::Status s = CheckLength(path, name); !s.ok()) return s;
    if (absl::Status s = ClearWayFor(path, is_dir); !s.ok()) return s;
    if (absl::Status s = RebaseHardlink(entry, target_, name); !s.ok()) return s;
    archive_entry_set_pathname(entry, path.c_str());

    if (archive_write_header(out_.get(), entry) < ARCHIVE_WARN) return WriteError(name);
    if (absl::Status s = CopyData(in, name); !s.ok()) return s;
    if (archive_write_finish_entry(out_.get()) < ARCHIVE_WARN) return WriteError(name);
    return absl::OkStatus();
  }

  // Applies the deferred directory modes and mtimes (libarchive sets them
  // last so read-only directories can still be filled).
  absl::Status Close() {
    if (archive_write_close(out_.get()) < ARCHIVE_WARN) return WriteError("(directory fixups)");
    return absl::OkStatus();
  }

 private:
  absl::Status CopyData(archive* in, const std::string& name) {
    EntryCopy copied = CopyEntryData(in, out_.get());
    if (copied == EntryCopy::kReadFailed) {
      return absl::FailedPreconditionError(
          absl::StrCat("layer entry '", name, "': ", ArchiveError(in)));
    }
    if (copied == EntryCopy::kWriteFailed) return WriteError(name);
    return absl::OkStatus();
  }

  absl::Status WriteError(const std::string& name) {
    return absl::InternalError(
        absl::StrCat("cannot extract layer entry '", name, "': ", ArchiveError(out_.get())));
  }

  std::string target_;
  WriteArchive out_;
};

absl::Status ApplyLayerUnprefixed(BlobFile& layer, const std::string& target_dir) {
  std::error_code ec;
  // Canonical, so no symlink in the target's own path trips
  // ARCHIVE_EXTRACT_SECURE_SYMLINKS.
  std::string target = fs::canonical(target_dir, ec).string();
  if (ec || !fs::is_directory(target, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat("layer target ", target_dir, " is not a directory"));
  }

  // Onto an empty target (an image's first layer) whiteouts hide nothing:
  // the first pass, a whole decompression, would only find that out.
  if (!fs::is_empty(target, ec)) {
    absl::StatusOr<Deletions> del = CollectDeletions(layer);
    if (!del.ok()) return del.status();
    if (absl::Status s = ApplyDeletions(target, *del); !s.ok()) return s;
  }

  Extractor extractor(target);
  if (absl::Status s = extractor.Open(); !s.ok()) return s;
  absl::Status extracted = ForEachEntry(
      layer, [&](archive* in, archive_entry* entry, const std::string& name,
                      const Comps& comps) { return extractor.Extract(in, entry, name, comps); });
  absl::Status closed = extractor.Close();
  return extracted.ok() ? closed : extracted;
}

}  // namespace

absl::Status ApplyLayer(BlobFile& layer, const std::string& target_dir) {
  return Prefixed(absl::StrCat("layer ", layer.display()), ApplyLayerUnprefixed(layer, target_dir));
}

}  // namespace osgv
