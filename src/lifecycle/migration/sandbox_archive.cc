#include "lifecycle/migration/sandbox_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "lifecycle/bundle/token_file.h"
#include "lifecycle/fs_util.h"
#include "lifecycle/image/digest.h"
#include "lifecycle/image/image_store.h"
#include "lifecycle/image/layer_paths.h"
#include "lifecycle/image/oci_layout.h"
#include "lifecycle/migration/archived_record_check.h"
#include "lifecycle/migration/upper_entry_policy.h"
#include "lifecycle/sandbox_manager.h"
#include "lifecycle/sandbox_status.h"
#include "lifecycle/store/record_lookup.h"

namespace osgv {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr char kBundleConfigEntry[] = "bundle/config.json";
constexpr char kUpperEntry[] = "upper";
constexpr char kCheckpointEntry[] = "checkpoint";
constexpr char kFilesEntry[] = "files";
// Placeholders for host-specific values in the archived bundle config.
constexpr char kSandboxDirVar[] = "${OSGV_SANDBOX_DIR}";
constexpr char kRunscIdVar[] = "${OSGV_RUNSC_ID}";
constexpr char kCheckpointManifest[] = "manifest.json";  // checkpoint_image.cc
constexpr char kStagingPrefix[] = ".import-";
// Small entries are read into memory; bound them so a hostile archive
// cannot make us allocate without limit.
constexpr int64_t kMaxSmallEntry = 16 << 20;
constexpr size_t kCopyBuffer = 1 << 20;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string MiB(uint64_t bytes) {
  return absl::StrCat(absl::SixDigits(static_cast<double>(bytes) / (1 << 20)), " MiB");
}

absl::Status WithContext(const std::string& prefix, const absl::Status& st) {
  if (st.ok()) return st;
  return absl::Status(st.code(), absl::StrCat(prefix, ": ", st.message()));
}

absl::Status Errno(const std::string& what, const std::string& path) {
  int e = errno;
  return absl::Status(e == ENOENT ? absl::StatusCode::kNotFound : absl::StatusCode::kInternal,
                      absl::StrCat(what, " ", path, ": ", strerror(e)));
}

// ---- sha256 while streaming --------------------------------------------------

class Hasher {
 public:
  Hasher() : ctx_(EVP_MD_CTX_new()) {
    ok_ = ctx_ != nullptr && EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) == 1;
  }
  ~Hasher() { EVP_MD_CTX_free(ctx_); }
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;

  void Update(const void* data, size_t n) {
    ok_ = ok_ && EVP_DigestUpdate(ctx_, data, n) == 1;
  }
  // "sha256:<hex>", or "" if OpenSSL failed.
  std::string Finish() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    ok_ = ok_ && EVP_DigestFinal_ex(ctx_, md, &len) == 1;
    if (!ok_) return "";
    return "sha256:" + absl::BytesToHexString(
                           absl::string_view(reinterpret_cast<const char*>(md), len));
  }

 private:
  EVP_MD_CTX* ctx_;
  bool ok_ = false;
};

// ---- libarchive handles --------------------------------------------------------

struct ReadFree {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct WriteFree {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryFree {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};
struct ResolverFree {
  void operator()(archive_entry_linkresolver* r) const { archive_entry_linkresolver_free(r); }
};
using ReadArchive = std::unique_ptr<archive, ReadFree>;
using WriteArchive = std::unique_ptr<archive, WriteFree>;
using Entry = std::unique_ptr<archive_entry, EntryFree>;

std::string ArchiveError(archive* a) {
  const char* msg = archive_error_string(a);
  return msg ? msg : "unknown libarchive error";
}

// ---- the bundle config, for older importers ----------------------------------

// Applies `fn` to every string value (not key) in `j`.
void ForEachString(json& j, const std::function<void(std::string&)>& fn) {
  if (j.is_string()) {
    std::string v = j.get<std::string>();
    fn(v);
    j = v;
  } else if (j.is_array() || j.is_object()) {
    for (auto& child : j) ForEachString(child, fn);
  }
}

// The bundle config as it travels: this host's sandbox dir and runsc id
// replaced by placeholders, plus what must travel with it.
struct PortableBundle {
  std::string text;
  std::vector<std::string> carried;  // relative to the sandbox dir
  std::vector<std::string> warnings;
};

absl::StatusOr<PortableBundle> MakePortable(const std::string& config, const std::string& rid) {
  auto spec = json::parse(config, nullptr, false);
  if (spec.is_discarded() || !spec.is_object()) {
    return absl::FailedPreconditionError("its bundle/config.json is not JSON");
  }
  // The sandbox dir as the driver spelled it: "<anything>/sandboxes/<rid>".
  const std::string marker = "/sandboxes/" + rid;
  auto split = [&](const std::string& s, std::string* rel) {
    size_t p = s.find(marker);
    if (p == std::string::npos) return false;
    size_t end = p + marker.size();
    if (end != s.size() && s[end] != '/') return false;
    *rel = end == s.size() ? "" : s.substr(end + 1);
    return true;
  };
  PortableBundle out;
  std::set<std::string> carried;
  if (spec.contains("mounts") && spec["mounts"].is_array()) {
    for (const auto& m : spec["mounts"]) {
      if (!m.is_object()) continue;
      std::string src = m.value("source", "");
      std::string rel;
      if (split(src, &rel) && rel == CarriedTokenFile()) {
        carried.insert(rel);
      } else if (src.find(rid) != std::string::npos) {
        out.warnings.push_back(absl::StrCat(
            "bind mount source ", src, " belongs to this host and does not travel; the "
            "importing driver must recreate it"));
      }
    }
  }
  ForEachString(spec, [&](std::string& v) {
    std::string rel;
    if (split(v, &rel)) v = rel.empty() ? kSandboxDirVar : absl::StrCat(kSandboxDirVar, "/", rel);
    v = absl::StrReplaceAll(v, {{rid, kRunscIdVar}});
  });
  out.text = spec.dump(2);
  out.carried.assign(carried.begin(), carried.end());
  return out;
}

// ---- export --------------------------------------------------------------------

class ArchiveWriter {
 public:
  absl::Status Open(int fd) {
    a_.reset(archive_write_new());
    if (!a_) return absl::InternalError("archive_write_new failed");
    // Full pax (not "restricted"): every entry gets an extended header, so
    // nanosecond times survive even where plain ustar would have sufficed.
    if (archive_write_set_format_pax(a_.get()) != ARCHIVE_OK ||
        archive_write_add_filter_zstd(a_.get()) != ARCHIVE_OK) {
      return absl::InternalError(absl::StrCat("cannot set up a zstd pax archive: ", Error()));
    }
    // The default 10 KiB tar blocks would pad the file; write what we have.
    archive_write_set_bytes_in_last_block(a_.get(), 1);
    if (archive_write_open_fd(a_.get(), fd) != ARCHIVE_OK) {
      return absl::InternalError(absl::StrCat("cannot open the archive: ", Error()));
    }
    resolver_.reset(archive_entry_linkresolver_new());
    if (!resolver_) return absl::InternalError("archive_entry_linkresolver_new failed");
    archive_entry_linkresolver_set_strategy(resolver_.get(), archive_format(a_.get()));
    return absl::OkStatus();
  }

  // A regular file with contents from memory.
  absl::Status AddBytes(const std::string& name, const std::string& data, int mode) {
    Entry e(archive_entry_new());
    archive_entry_set_pathname(e.get(), name.c_str());
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_perm(e.get(), mode);
    archive_entry_set_size(e.get(), static_cast<la_int64_t>(data.size()));
    archive_entry_set_mtime(e.get(), NowMs() / 1000, 0);
    if (archive_write_header(a_.get(), e.get()) != ARCHIVE_OK) return Failed(name);
    if (!data.empty() && archive_write_data(a_.get(), data.data(), data.size()) < 0) {
      return Failed(name);
    }
    return absl::OkStatus();
  }

  // A regular file streamed from disk; `*digest` receives its sha256.
  absl::Status AddFile(const std::string& name, const std::string& path, std::string* digest) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Errno("open", path);
    struct Closer {
      int fd;
      ~Closer() { close(fd); }
    } closer{fd};
    struct stat st;
    if (fstat(fd, &st) != 0) return Errno("stat", path);
    if (!S_ISREG(st.st_mode)) {
      return absl::FailedPreconditionError(absl::StrCat(path, " is not a regular file"));
    }
    Entry e(archive_entry_new());
    archive_entry_set_pathname(e.get(), name.c_str());
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_perm(e.get(), st.st_mode & 07777);
    archive_entry_set_size(e.get(), st.st_size);
    archive_entry_set_mtime(e.get(), st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    if (archive_write_header(a_.get(), e.get()) != ARCHIVE_OK) return Failed(name);
    std::vector<char> buf(kCopyBuffer);
    Hasher hash;
    int64_t total = 0;
    for (;;) {
      ssize_t n = read(fd, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Errno("read", path);
      if (n == 0) break;
      hash.Update(buf.data(), static_cast<size_t>(n));
      if (archive_write_data(a_.get(), buf.data(), static_cast<size_t>(n)) < 0) return Failed(name);
      total += n;
    }
    if (total != st.st_size) {
      return absl::FailedPreconditionError(absl::StrCat(path, " changed size while it was read"));
    }
    *digest = hash.Finish();
    return absl::OkStatus();
  }

  // The directory tree at `dir` as `prefix`/..., exactly as it is on disk:
  // numeric owners, modes, nanosecond times, xattrs, ACLs, hard links,
  // holes, device nodes (overlay whiteouts). Never follows symlinks or
  // crosses into another filesystem.
  absl::Status AddTree(const std::string& prefix, const std::string& dir) {
    ReadArchive disk(archive_read_disk_new());
    if (!disk) return absl::InternalError("archive_read_disk_new failed");
    archive_read_disk_set_symlink_physical(disk.get());
    archive_read_disk_set_behavior(disk.get(), ARCHIVE_READDISK_NO_TRAVERSE_MOUNTS);
    if (archive_read_disk_open(disk.get(), dir.c_str()) != ARCHIVE_OK) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot read ", dir, ": ", ArchiveError(disk.get())));
    }
    std::vector<char> zeros;
    for (;;) {
      Entry e(archive_entry_new());
      int r = archive_read_next_header2(disk.get(), e.get());
      if (r == ARCHIVE_EOF) break;
      const char* raw = archive_entry_pathname(e.get());
      std::string path = raw ? raw : "";
      // A warning means something about the entry (an xattr, an ACL) could
      // not be read: the copy would be silently different, so refuse.
      if (r != ARCHIVE_OK) {
        return absl::FailedPreconditionError(
            absl::StrCat("cannot read ", path.empty() ? dir : path, ": ", ArchiveError(disk.get())));
      }
      archive_read_disk_descend(disk.get());
      if (path != dir && !absl::StartsWith(path, dir + "/")) {
        return absl::InternalError(absl::StrCat("unexpected path ", path, " under ", dir));
      }
      // Sockets cannot be archived and mean nothing without their owner.
      if (archive_entry_filetype(e.get()) == AE_IFSOCK) continue;
      std::string name = prefix + path.substr(dir.size());
      archive_entry_set_pathname(e.get(), name.c_str());
      archive_entry_set_uname(e.get(), nullptr);
      archive_entry_set_gname(e.get(), nullptr);
      archive_entry* entry = e.release();
      archive_entry* spare = nullptr;
      archive_entry_linkify(resolver_.get(), &entry, &spare);
      e.reset(entry);
      Entry spare_owner(spare);  // the pax strategy never returns one
      if (archive_write_header(a_.get(), e.get()) < ARCHIVE_WARN) return Failed(name);
      if (archive_entry_filetype(e.get()) != AE_IFREG || archive_entry_size(e.get()) == 0) continue;
      // Data blocks come with their offsets; a gap is a hole, which the pax
      // writer wants as zeros (it drops them again for sparse entries).
      int64_t progress = 0;
      for (;;) {
        const void* block = nullptr;
        size_t size = 0;
        la_int64_t offset = 0;
        r = archive_read_data_block(disk.get(), &block, &size, &offset);
        if (r == ARCHIVE_EOF) break;
        if (r != ARCHIVE_OK) {
          return absl::FailedPreconditionError(
              absl::StrCat("cannot read ", path, ": ", ArchiveError(disk.get())));
        }
        while (offset > progress) {
          if (zeros.empty()) zeros.assign(kCopyBuffer, 0);
          size_t n = static_cast<size_t>(std::min<int64_t>(offset - progress, zeros.size()));
          la_ssize_t w = archive_write_data(a_.get(), zeros.data(), n);
          if (w <= 0) return Failed(name);
          progress += w;
        }
        if (size > 0) {
          la_ssize_t w = archive_write_data(a_.get(), block, size);
          if (w < 0) return Failed(name);
          progress += w;
        }
      }
    }
    return absl::OkStatus();
  }

  absl::Status Close() {
    if (archive_write_close(a_.get()) != ARCHIVE_OK) {
      return absl::InternalError(absl::StrCat("cannot finish the archive: ", Error()));
    }
    return absl::OkStatus();
  }

 private:
  std::string Error() { return ArchiveError(a_.get()); }
  absl::Status Failed(const std::string& name) {
    return absl::InternalError(absl::StrCat("cannot write ", name, " to the archive: ", Error()));
  }

  WriteArchive a_;
  std::unique_ptr<archive_entry_linkresolver, ResolverFree> resolver_;
};

// ---- import --------------------------------------------------------------------

absl::StatusOr<ReadArchive> OpenArchive(const std::string& file) {
  ReadArchive a(archive_read_new());
  if (!a) return absl::InternalError("archive_read_new failed");
  archive_read_support_filter_all(a.get());
  archive_read_support_format_tar(a.get());
  if (archive_read_open_filename(a.get(), file.c_str(), 1 << 16) != ARCHIVE_OK) {
    return absl::Status(archive_errno(a.get()) == ENOENT ? absl::StatusCode::kNotFound
                                                         : absl::StatusCode::kInvalidArgument,
                        absl::StrCat("cannot open ", file, ": ", ArchiveError(a.get())));
  }
  return a;
}

// The next header; nullptr at the end.
absl::StatusOr<archive_entry*> NextHeader(archive* a, const std::string& file) {
  archive_entry* entry = nullptr;
  int r = archive_read_next_header(a, &entry);
  if (r == ARCHIVE_EOF) return nullptr;
  if (r < ARCHIVE_WARN) {
    return absl::InvalidArgumentError(absl::StrCat(file, " is not a readable sandbox archive: ",
                                                   ArchiveError(a)));
  }
  return entry;
}

absl::StatusOr<std::string> ReadSmallEntry(archive* a, archive_entry* entry,
                                           const std::string& name) {
  if (archive_entry_filetype(entry) != AE_IFREG) {
    return absl::InvalidArgumentError(absl::StrCat("archive entry ", name, " is not a file"));
  }
  if (archive_entry_size(entry) > kMaxSmallEntry) {
    return absl::InvalidArgumentError(absl::StrCat("archive entry ", name, " is too large"));
  }
  std::string out;
  char buf[65536];
  for (;;) {
    la_ssize_t n = archive_read_data(a, buf, sizeof buf);
    if (n == 0) break;
    if (n < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot read archive entry ", name, ": ", ArchiveError(a)));
    }
    out.append(buf, static_cast<size_t>(n));
    if (static_cast<int64_t>(out.size()) > kMaxSmallEntry) {
      return absl::InvalidArgumentError(absl::StrCat("archive entry ", name, " is too large"));
    }
  }
  return out;
}

absl::StatusOr<SandboxArchiveManifest> ReadManifestEntry(archive* a, const std::string& file) {
  auto entry = NextHeader(a, file);
  if (!entry.ok()) return entry.status();
  const char* name = *entry ? archive_entry_pathname(*entry) : nullptr;
  if (name == nullptr || std::string(name) != kSandboxArchiveManifestName) {
    return absl::InvalidArgumentError(absl::StrCat(
        file, " is not a sandbox archive: it does not start with ", kSandboxArchiveManifestName));
  }
  auto text = ReadSmallEntry(a, *entry, kSandboxArchiveManifestName);
  if (!text.ok()) return text.status();
  auto manifest = SandboxManifestFromJson(*text);
  if (!manifest.ok()) return WithContext(file, manifest.status());
  return manifest;
}

// Removes what an interrupted import left (we hold the state dir lock, so
// nobody else is writing one).
void RemoveStaleStaging(const std::string& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().filename().string().rfind(kStagingPrefix, 0) == 0) {
      RemoveTree(entry.path().string()).IgnoreError();
    }
  }
}

// Deletes the staged (and, after a failure past the renames, the final)
// directories unless disarmed.
struct Cleanup {
  std::vector<std::string> paths;
  bool armed = true;
  ~Cleanup() {
    if (!armed) return;
    for (const auto& p : paths) RemoveTree(p).IgnoreError();
  }
};

class Importer {
 public:
  Importer(const SandboxArchiveManifest& manifest, std::string sandbox_dir,
           std::string image_dir)
      : m_(manifest), sandbox_dir_(std::move(sandbox_dir)),
        image_dir_(std::move(image_dir)) {}

  absl::Status Open() {
    disk_.reset(archive_write_disk_new());
    if (!disk_) return absl::InternalError("archive_write_disk_new failed");
    // Ownership, modes, times and the xattrs the entry policy lets through
    // (trusted.overlay.opaque) as exported; that needs root. No ACLs
    // (upper_entry_policy.h). Entry names are checked and prefixed with our
    // own canonical staging dir, hence no SECURE_NOABSOLUTEPATHS; symlinks
    // in the tree are never followed.
    int flags = ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
                ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                ARCHIVE_EXTRACT_SECURE_NODOTDOT;
    archive_write_disk_set_options(disk_.get(), flags);
    return absl::OkStatus();
  }

  absl::Status Entry(archive* in, archive_entry* entry) {
    const char* raw = archive_entry_pathname(entry);
    std::string name = raw ? raw : "";
    // SplitEntryName reads "/x" as "x"; export never writes such a name.
    if (absl::StartsWith(name, "/")) {
      return absl::InvalidArgumentError(
          absl::StrCat("archive entry '", name, "' has an absolute name"));
    }
    auto comps = layer::SplitEntryName(name);
    if (!comps.ok() || comps->empty()) {
      return absl::InvalidArgumentError(absl::StrCat("archive entry '", name, "' has a bad name"));
    }
    if (name == kSandboxArchiveManifestName) {
      return absl::InvalidArgumentError(absl::StrCat("archive has a second ", name));
    }
    if (name == kBundleConfigEntry) return DiscardBundleConfig(in, entry);
    if ((*comps)[0] == kUpperEntry) return Upper(in, entry, name, *comps);
    if ((*comps)[0] == kFilesEntry) return Carried(in, entry, name, *comps);
    if ((*comps)[0] == kCheckpointEntry && comps->size() == 2) {
      return CheckpointFile(in, entry, (*comps)[1]);
    }
    return absl::InvalidArgumentError(absl::StrCat("unexpected archive entry '", name, "'"));
  }

  // Checks that nothing was missing, creates the empty bundle and work
  // directories, and applies libarchive's deferred directory times. The
  // sandbox's first Start writes the bundle (SandboxManager::StartLocked).
  absl::Status Finish(const CheckpointImage* final_image) {
    if (archive_write_close(disk_.get()) != ARCHIVE_OK) {
      return absl::InternalError(
          absl::StrCat("cannot finish the writable layer: ", ArchiveError(disk_.get())));
    }
    if (!saw_upper_root_) {
      return absl::InvalidArgumentError("the archive has no upper/ (writable layer) directory");
    }
    if (m_.checkpoint) {
      for (const auto& [file, digest] : m_.checkpoint->files) {
        if (!seen_checkpoint_files_.count(file)) {
          return absl::DataLossError(
              absl::StrCat("checkpoint file '", file, "' listed in the manifest is missing"));
        }
      }
    }
    for (const auto& rel : m_.carried_files) {
      if (!seen_carried_.count(rel)) {
        return absl::InvalidArgumentError(
            absl::StrCat("carried file '", rel, "' listed in the manifest is missing"));
      }
    }
    std::string bundle = sandbox_dir_ + "/bundle";
    for (const auto& [dir, mode] : std::vector<std::pair<std::string, int>>{
             {bundle, 0711}, {bundle + "/rootfs", 0755}, {sandbox_dir_ + "/work", 0700}}) {
      if (auto st = MakeDirs(dir, mode); !st.ok()) return st;
      chmod(dir.c_str(), mode);  // MakeDirs leaves existing dirs alone
    }
    if (final_image != nullptr) {
      auto st = WriteFileAtomic(image_dir_ + "/" + kCheckpointManifest,
                                CheckpointToJson(*final_image), 0600);
      if (!st.ok()) return st;
    }
    return absl::OkStatus();
  }

  // What the entry policy stripped, for ImportResult::warnings.
  std::vector<std::string> Warnings() const { return report_.Warnings(); }

 private:
  // Older exporters require, and this one still writes, the entry; the
  // archived spec is never used: whoever wrote the archive chose its
  // mounts, hooks and devices. Start writes a new one from the
  // re-validated request, as create does.
  absl::Status DiscardBundleConfig(archive* in, archive_entry* entry) {
    if (saw_bundle_config_) {
      return absl::InvalidArgumentError("archive has a second bundle/config.json");
    }
    saw_bundle_config_ = true;
    return ReadSmallEntry(in, entry, kBundleConfigEntry).status();
  }

  absl::Status Upper(archive* in, archive_entry* entry, const std::string& name,
                     const std::vector<std::string>& comps) {
    mode_t type = archive_entry_filetype(entry);
    if (comps.size() == 1) {
      if (type != AE_IFDIR || saw_upper_root_) {
        return absl::InvalidArgumentError("archive entry 'upper' is not a single directory");
      }
      saw_upper_root_ = true;
    } else if (!saw_upper_root_) {
      return absl::InvalidArgumentError(
          absl::StrCat("archive entry '", name, "' comes before the upper/ directory"));
    }
    UpperEntryChanges changes;
    if (auto st = ApplyUpperEntryPolicy(entry, name, &changes); !st.ok()) return st;
    report_.Add(name, changes);
    return ExtractTo(in, entry, name, comps, kUpperEntry);
  }

  // files/auth/sandbox.jwt, the only carried file (CheckArchivedRecord):
  // written by the token file's own writer, with its owner and modes.
  absl::Status Carried(archive* in, archive_entry* entry, const std::string& name,
                       const std::vector<std::string>& comps) {
    std::string rel = absl::StrJoin(comps.begin() + 1, comps.end(), "/");
    bool listed = std::find(m_.carried_files.begin(), m_.carried_files.end(), rel) !=
                  m_.carried_files.end();
    if (!listed || rel != CarriedTokenFile()) {
      return absl::InvalidArgumentError(
          absl::StrCat("archive entry '", name, "' is not listed in the manifest"));
    }
    if (archive_entry_filetype(entry) != AE_IFREG || archive_entry_hardlink(entry) != nullptr ||
        (archive_entry_perm(entry) & (S_ISUID | S_ISGID)) != 0 ||
        !seen_carried_.insert(rel).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("archive entry '", name, "' is not a single regular file"));
    }
    auto text = ReadSmallEntry(in, entry, name);
    if (!text.ok()) return text.status();
    std::string token = *text;
    if (absl::EndsWith(token, "\n")) token.pop_back();
    // Its message names the field and never the token.
    return WithContext(absl::StrCat("archive entry '", name, "'"),
                       WriteTokenFile(sandbox_dir_, token));
  }

  // Writes the entry at <sandbox dir>/<comps> with everything libarchive
  // keeps; a hard link may only point inside `area` (an archive path).
  absl::Status ExtractTo(archive* in, archive_entry* entry, const std::string& name,
                         const std::vector<std::string>& comps, const std::string& area) {
    if (auto st = layer::CheckParents(sandbox_dir_, comps, name); !st.ok()) {
      return absl::InvalidArgumentError(st.message());
    }
    std::string path = layer::JoinUnder(sandbox_dir_, comps);
    archive_entry_set_pathname(entry, path.c_str());
    if (const char* link = archive_entry_hardlink(entry)) {
      auto target = layer::SplitEntryName(link);
      std::string joined = target.ok() ? absl::StrJoin(*target, "/") : "";
      if (!target.ok() || !absl::StartsWith(joined, area + "/")) {
        return absl::InvalidArgumentError(
            absl::StrCat("archive entry '", name, "' is a hard link outside ", area, "/"));
      }
      std::vector<std::string> under(target->begin(), target->end());
      std::string target_path = layer::JoinUnder(sandbox_dir_, under);
      archive_entry_set_hardlink(entry, target_path.c_str());
    }
    if (archive_write_header(disk_.get(), entry) < ARCHIVE_WARN) return WriteError(name);
    for (;;) {
      const void* buf = nullptr;
      size_t size = 0;
      la_int64_t offset = 0;
      int r = archive_read_data_block(in, &buf, &size, &offset);
      if (r == ARCHIVE_EOF) break;
      if (r < ARCHIVE_WARN) {
        return absl::InvalidArgumentError(
            absl::StrCat("cannot read archive entry '", name, "': ", ArchiveError(in)));
      }
      if (archive_write_data_block(disk_.get(), buf, size, offset) < ARCHIVE_WARN) {
        return WriteError(name);
      }
    }
    if (archive_write_finish_entry(disk_.get()) < ARCHIVE_WARN) return WriteError(name);
    return absl::OkStatus();
  }

  absl::Status CheckpointFile(archive* in, archive_entry* entry, const std::string& file) {
    if (!m_.checkpoint || !m_.checkpoint->files.count(file)) {
      return absl::InvalidArgumentError(
          absl::StrCat("archive entry 'checkpoint/", file, "' is not listed in the manifest"));
    }
    if (archive_entry_filetype(entry) != AE_IFREG || !seen_checkpoint_files_.insert(file).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("archive entry 'checkpoint/", file, "' is not a single regular file"));
    }
    std::string path = image_dir_ + "/" + file;
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return Errno("create", path);
    struct Closer {
      int fd;
      ~Closer() { close(fd); }
    } closer{fd};
    std::vector<char> buf(kCopyBuffer);
    Hasher hash;
    for (;;) {
      la_ssize_t n = archive_read_data(in, buf.data(), buf.size());
      if (n == 0) break;
      if (n < 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "cannot read archive entry 'checkpoint/", file, "': ", ArchiveError(in)));
      }
      hash.Update(buf.data(), static_cast<size_t>(n));
      for (la_ssize_t off = 0; off < n;) {
        ssize_t w = write(fd, buf.data() + off, static_cast<size_t>(n - off));
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return Errno("write", path);
        off += w;
      }
    }
    if (fsync(fd) != 0) return Errno("fsync", path);
    std::string got = hash.Finish();
    const std::string& want = m_.checkpoint->files.at(file);
    if (got != want) {
      return absl::DataLossError(absl::StrCat("checkpoint file '", file,
                                              "' does not match its digest in the manifest (",
                                              want, ", archive holds ", got,
                                              "): the archive is damaged"));
    }
    return absl::OkStatus();
  }

  absl::Status WriteError(const std::string& name) {
    return absl::InternalError(
        absl::StrCat("cannot extract archive entry '", name, "': ", ArchiveError(disk_.get())));
  }

  const SandboxArchiveManifest& m_;
  std::string sandbox_dir_;
  std::string image_dir_;
  WriteArchive disk_;
  bool saw_upper_root_ = false;
  bool saw_bundle_config_ = false;
  UpperEntryReport report_;
  std::set<std::string> seen_checkpoint_files_;
  std::set<std::string> seen_carried_;
};

absl::Status CheckNoConflict(StateStore* store, const SandboxRecord& r) {
  auto records = store->List();
  if (!records.ok()) return records.status();
  for (const auto& other : *records) {
    if (other.id == r.id) {
      return absl::AlreadyExistsError(absl::StrCat(
          "sandbox.id: a sandbox with id '", r.id, "' already exists in this state dir (as ",
          other.runsc_id, ", phase ", other.phase, ")"));
    }
    if (other.workspace == r.workspace && other.name == r.name) {
      return absl::AlreadyExistsError(absl::StrCat(
          "sandbox.name: a sandbox named '", r.name, "' already exists in workspace '",
          r.workspace, "' (id ", other.id, ")"));
    }
  }
  return absl::OkStatus();
}

// The image is not in the archive: the importing host must resolve the same
// reference to the same manifest, or the writable layer and the memory would
// sit on top of different files.
std::optional<std::string> ImageWarning(const SandboxRecord& r) {
  auto ref = ParseImageReference(r.image_ref);
  if (!ref.ok()) {
    return absl::StrCat("image '", r.image_ref, "' cannot be used here (", ref.status().message(),
                        "); Start will fail until it can");
  }
  // A registry image is pulled at Start, by the recorded digest.
  if (ref->is_registry()) return std::nullopt;
  auto resolved = OciLayout(ref->layout_dir).Resolve(ref->tag);
  if (!resolved.ok()) {
    return absl::StrCat("image '", r.image_ref, "' does not resolve on this host (",
                        resolved.status().message(),
                        "); Start will fail until the same image is there");
  }
  if (!r.image_digest.empty() && resolved->manifest.digest != r.image_digest) {
    return absl::StrCat("image '", r.image_ref, "' resolves to ", resolved->manifest.digest,
                        " here but the sandbox ran on ", r.image_digest,
                        "; its files and memory were made on top of that image, so put the "
                        "same image under that reference before starting it");
  }
  return std::nullopt;
}

}  // namespace

// ---- manifest ------------------------------------------------------------------

absl::StatusOr<SandboxArchiveManifest> ManifestForExport(const SandboxRecord& record) {
  if (record.phase != phase::kStopped) {
    return absl::FailedPreconditionError(absl::StrCat(
        "sandbox '", record.id, "' (", record.name, ") is ", record.phase,
        ", not stopped: stop it first (StopSandbox, or ctl stop ", record.id, ")"));
  }
  SandboxArchiveManifest m;
  m.driver_version = OSGV_VERSION;
  m.exported_at_ms = NowMs();
  m.record = record;
  m.record.runsc_id.clear();
  m.record.monitor_pid = 0;
  m.record.checkpoint_json.clear();
  if (!record.checkpoint_json.empty()) {
    auto image = CheckpointFromJson(record.checkpoint_json);
    if (!image.ok()) {
      return absl::DataLossError(absl::StrCat("sandbox '", record.id,
                                              "': its checkpoint record is unreadable: ",
                                              image.status().message()));
    }
    image->dir.clear();
    m.checkpoint = *image;
  }
  return m;
}

std::string CheckpointRootFor(const StateLayout& layout, const std::string& checkpoint_dir,
                              const std::string& runsc_id) {
  std::string base = checkpoint_dir.empty() ? layout.root + "/checkpoints" : checkpoint_dir;
  return base + "/" + runsc_id;
}

absl::StatusOr<SandboxArchiveManifest> ReadSandboxArchiveManifest(const std::string& file) {
  auto a = OpenArchive(file);
  if (!a.ok()) return a.status();
  return ReadManifestEntry(a->get(), file);
}

// ---- export --------------------------------------------------------------------

namespace {

// Writes the archive to `fd` (open on `tmp`, created by the caller) and
// renames `tmp` to `file`.
absl::StatusOr<ExportResult> ExportRecord(StateStore* store, const StateLayout& layout,
                                          const SandboxRecord& record, const std::string& file,
                                          const std::string& tmp, int fd) {
  auto manifest = ManifestForExport(record);
  if (!manifest.ok()) return manifest.status();
  const std::string rid = record.runsc_id;
  std::string upper = layout.upper(rid);
  std::error_code ec;
  if (!fs::is_directory(upper, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat("its writable layer ", upper, " is missing"));
  }
  auto config = ReadFile(layout.bundle(rid) + "/config.json");
  if (!config.ok()) return config.status();
  auto portable = MakePortable(*config, rid);
  if (!portable.ok()) return portable.status();
  manifest->bundle_config_digest = Sha256String(portable->text);
  manifest->carried_files = portable->carried;
  for (const auto& rel : portable->carried) {
    std::string path = layout.sandbox_dir(rid) + "/" + rel;
    if (!fs::exists(fs::symlink_status(path, ec))) {
      return absl::FailedPreconditionError(
          absl::StrCat("its bind mount source ", path, " is missing"));
    }
  }
  std::string image_dir;
  if (manifest->checkpoint) {
    image_dir = CheckpointFromJson(record.checkpoint_json)->dir;
  }

  ArchiveWriter w;
  if (auto st = w.Open(fd); !st.ok()) return st;
  if (auto st = w.AddBytes(kSandboxArchiveManifestName, SandboxManifestToJson(*manifest), 0600);
      !st.ok()) {
    return st;
  }
  if (auto st = w.AddTree(kUpperEntry, upper); !st.ok()) return st;
  if (auto st = w.AddBytes(kBundleConfigEntry, portable->text, 0600); !st.ok()) return st;
  for (const auto& rel : portable->carried) {
    auto st = w.AddTree(std::string(kFilesEntry) + "/" + rel, layout.sandbox_dir(rid) + "/" + rel);
    if (!st.ok()) return st;
  }
  if (manifest->checkpoint) {
    for (const auto& [name, want] : manifest->checkpoint->files) {
      std::string got;
      std::string path = image_dir + "/" + name;
      auto st = w.AddFile(std::string(kCheckpointEntry) + "/" + name, path, &got);
      if (!st.ok()) return st;
      if (got != want) {
        return absl::DataLossError(absl::StrCat(
            "its checkpoint file ", path, " does not match its recorded digest; the image "
            "is damaged (Start would boot it cold): start it, stop it again, then export"));
      }
    }
  }
  if (auto st = w.Close(); !st.ok()) return st;
  if (fsync(fd) != 0) return Errno("fsync", tmp);

  // Read at the start, checked again at the end: a Start (or anything
  // else) in between changed the files under us.
  auto now = store->Get(record.id);
  if (!now.ok()) return now.status();
  if (!now->has_value() || (*now)->generation != record.generation ||
      (*now)->phase != phase::kStopped) {
    return absl::AbortedError(absl::StrCat(
        "it changed while it was being exported (now ",
        now->has_value() ? (*now)->phase : std::string("deleted"),
        "); export it again while it is stopped"));
  }
  struct stat st;
  ExportResult result;
  result.manifest = *manifest;
  result.warnings = portable->warnings;
  if (fstat(fd, &st) == 0) result.archive_bytes = static_cast<uint64_t>(st.st_size);
  // Never over a file that appeared meanwhile (or a symlink planted there).
  if (renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, file.c_str(), RENAME_NOREPLACE) != 0) {
    if (errno == EEXIST) {
      return absl::AlreadyExistsError(
          absl::StrCat(file, " appeared while the archive was being written; it was left alone"));
    }
    return Errno("rename", tmp);
  }
  std::string parent = fs::path(file).parent_path().string();
  FsyncDir(parent.empty() ? "." : parent).IgnoreError();
  return result;
}

}  // namespace

absl::StatusOr<ExportResult> ExportSandbox(StateStore* store, const StateLayout& layout,
                                           const std::string& id_or_name,
                                           const std::string& file) {
  auto records = store->List();
  if (!records.ok()) return records.status();
  auto record = FindRecord(*records, id_or_name);
  if (!record.ok()) return record.status();
  std::error_code ec;
  if (fs::exists(file, ec) || fs::is_symlink(file, ec)) {
    return absl::AlreadyExistsError(absl::StrCat("export of sandbox '", record->id, "': ", file,
                                                 " already exists; remove it or choose another "
                                                 "file"));
  }
  std::string tmp = file + ".tmp";
  // Our own new file: not one someone left (or linked) there for us to
  // write through.
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0 && errno == EEXIST) {
    return absl::AlreadyExistsError(absl::StrCat(
        "export of sandbox '", record->id, "': ", tmp,
        " already exists (another export to the same file, or one that was interrupted); "
        "remove it or choose another file"));
  }
  if (fd < 0) return WithContext(absl::StrCat("export of sandbox '", record->id, "'"),
                                 Errno("create", tmp));
  auto result = ExportRecord(store, layout, *record, file, tmp, fd);
  close(fd);
  if (!result.ok()) {
    unlink(tmp.c_str());
    // ManifestForExport's refusal already names the sandbox.
    if (absl::IsFailedPrecondition(result.status()) && record->phase != phase::kStopped) {
      return result.status();
    }
    return WithContext(absl::StrCat("export of sandbox '", record->id, "'"), result.status());
  }
  return result;
}

// ---- import --------------------------------------------------------------------

namespace {

absl::StatusOr<ImportResult> ImportUnprefixed(StateStore* store, const StateLayout& layout,
                                              const std::string& checkpoint_dir,
                                              const std::string& file, archive* in,
                                              const SandboxArchiveManifest& manifest) {
  if (auto st = CheckNoConflict(store, manifest.record); !st.ok()) return st;

  auto new_rid = NewRunscId();
  if (!new_rid.ok()) return new_rid.status();
  const std::string rid = *new_rid;
  const std::string ck_root = CheckpointRootFor(layout, checkpoint_dir, rid);
  const std::string ck_base = fs::path(ck_root).parent_path().string();
  for (const auto& dir : {layout.runsc_root(), layout.images(), layout.sandboxes(), ck_base}) {
    if (auto st = MakeDirs(dir, 0700); !st.ok()) return st;
  }
  RemoveStaleStaging(layout.sandboxes());
  RemoveStaleStaging(ck_base);

  // Staging: the sandbox dir and the checkpoint root under temporary names
  // in the directories they will be renamed within.
  std::string staged_sandbox = layout.sandboxes() + "/" + kStagingPrefix + rid;
  std::string staged_ck = ck_base + "/" + kStagingPrefix + rid;
  Cleanup cleanup{{staged_sandbox, staged_ck}};
  for (const auto& dir : {staged_sandbox, staged_ck, staged_ck + "/image"}) {
    if (mkdir(dir.c_str(), 0700) != 0) return Errno("mkdir", dir);
  }
  std::error_code ec;
  // Canonical, so no symlink in the state dir's own path trips
  // ARCHIVE_EXTRACT_SECURE_SYMLINKS.
  std::string sandbox_canon = fs::canonical(staged_sandbox, ec).string();
  if (ec) return absl::InternalError(absl::StrCat("resolve ", staged_sandbox, ": ", ec.message()));

  Importer importer(manifest, sandbox_canon, staged_ck + "/image");
  if (auto st = importer.Open(); !st.ok()) return st;
  for (;;) {
    auto entry = NextHeader(in, file);
    if (!entry.ok()) return entry.status();
    if (*entry == nullptr) break;
    if (auto st = importer.Entry(in, *entry); !st.ok()) return st;
  }

  SandboxRecord r = manifest.record;
  r.runsc_id = rid;
  r.monitor_pid = 0;
  r.phase = phase::kStopped;
  r.updated_at_ms = NowMs();
  r.generation = manifest.record.generation + 1;
  std::optional<CheckpointImage> image = manifest.checkpoint;
  if (image) image->dir = ck_root + "/image";
  r.checkpoint_json = image ? CheckpointToJson(*image) : "";
  r.reason = image ? reason::kCheckpointed : reason::kStoppedWithoutMemory;
  r.message = absl::StrCat(
      "Imported from another driver (exported by openshell-driver-gvisor ",
      manifest.driver_version.empty() ? "?" : manifest.driver_version, " at ",
      Rfc3339(manifest.exported_at_ms), "); ",
      image ? absl::StrCat("Start restores its memory (", MiB(image->bytes), ")")
            : std::string("no memory was kept, so Start boots it cold"));
  if (auto st = importer.Finish(image ? &*image : nullptr); !st.ok()) return st;

  // Everything is written; make it durable, then visible: the directories
  // by rename, the record last.
  int dirfd = open(staged_sandbox.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd >= 0) {
    syncfs(dirfd);
    close(dirfd);
  }
  dirfd = open(staged_ck.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd >= 0) {
    syncfs(dirfd);
    close(dirfd);
  }
  std::string final_sandbox = layout.sandbox_dir(rid);
  if (!image) {
    RemoveTree(staged_ck).IgnoreError();
    cleanup.paths.pop_back();
  }
  if (rename(staged_sandbox.c_str(), final_sandbox.c_str()) != 0) {
    return Errno("rename", staged_sandbox);
  }
  cleanup.paths[0] = final_sandbox;
  if (image) {
    if (rename(staged_ck.c_str(), ck_root.c_str()) != 0) return Errno("rename", staged_ck);
    cleanup.paths[1] = ck_root;
    FsyncDir(ck_base).IgnoreError();
  }
  FsyncDir(layout.sandboxes()).IgnoreError();
  if (auto st = store->Insert(r); !st.ok()) return st;
  cleanup.armed = false;

  ImportResult result;
  result.record = r;
  result.manifest = manifest;
  result.warnings = importer.Warnings();
  if (auto w = ImageWarning(r)) result.warnings.push_back(*w);
  return result;
}

}  // namespace

absl::StatusOr<ImportResult> ImportSandbox(StateStore* store, const StateLayout& layout,
                                           const Config& config, const std::string& file) {
  auto in = OpenArchive(file);
  if (!in.ok()) return in.status();
  auto manifest = ReadManifestEntry(in->get(), file);
  if (!manifest.ok()) return manifest.status();
  auto checked = CheckArchivedRecord(*manifest, config);
  auto result = checked.ok() ? ImportUnprefixed(store, layout, config.checkpoint_dir, file,
                                                in->get(), *manifest)
                             : absl::StatusOr<ImportResult>(checked);
  if (!result.ok()) {
    return WithContext(
        absl::StrCat("import of sandbox '", manifest->record.id, "' from ", file), result.status());
  }
  return result;
}

}  // namespace osgv
