// What the sandbox archive tests share: a stopped sandbox on disk (a record
// in a temp store, a made-up writable layer, bundle and checkpoint image),
// and a rewriter that turns an exported archive into a tampered one with
// libarchive, the way an attacker would.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "capabilities/config.h"
#include "lifecycle/checkpoint/checkpoint_image.h"
#include "lifecycle/sandbox_status.h"
#include "lifecycle/spec_codec.h"
#include "lifecycle/state_layout.h"
#include "lifecycle/store/state_store.h"

namespace osgv::testing {

inline void RequireOk(const absl::Status& st) {
  INFO(st.ToString());
  REQUIRE(st.ok());
}

inline void Write(const std::string& path, const std::string& content) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << content;
}

inline std::string Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::unique_ptr<StateStore> OpenStore(const StateLayout& layout) {
  std::filesystem::create_directories(layout.root);
  auto store = StateStore::Open(layout.database());
  INFO(store.status().ToString());
  REQUIRE(store.ok());
  return std::move(*store);
}

// The driver configuration an importing host runs with in these tests: the
// archived sandboxes' image lies under an operator-listed root.
inline Config ImportConfig() {
  Config config;
  config.images.oci_roots = {"/nonexistent"};
  return config;
}

// What CreateSandbox stored for the sandbox `id` (spec_codec.h).
inline SandboxRequest StoredRequest(const std::string& id) {
  SandboxRequest q;
  q.id = id;
  q.name = "name-" + id;
  q.namespace_name = "ns";
  q.workspace = "ws";
  q.spec.tmpl.image = "oci:/nonexistent/layout:v1";
  q.spec.environment = {{"GREETING", "hello"}};
  q.spec.command = {"/bin/sh", "-c", "sleep 1000"};
  return q;
}

inline SandboxRecord StoppedRecord(const std::string& id, const std::string& rid) {
  SandboxRecord r;
  r.id = id;
  r.name = "name-" + id;
  r.namespace_name = "ns";
  r.workspace = "ws";
  r.runsc_id = rid;
  r.image_ref = "oci:/nonexistent/layout:v1";
  r.image_digest = "sha256:" + std::string(64, 'c');
  r.phase = phase::kStopped;
  r.reason = reason::kCheckpointed;
  r.message = "Memory checkpointed";
  r.spec_json = EncodeRequest(StoredRequest(id));
  r.created_at_ms = 1'700'000'000'000;
  r.updated_at_ms = 1'700'000'000'500;
  r.monitor_pid = 0;
  r.generation = 7;
  return r;
}

// A stopped sandbox on disk in `layout`: upper/ with a bit of everything,
// a bundle config, its token file and (with_memory) a sealed checkpoint
// image.
inline SandboxRecord MakeStoppedSandbox(StateStore* store, const StateLayout& layout,
                                        const std::string& id, bool with_memory) {
  namespace fs = std::filesystem;
  using json = nlohmann::json;
  std::string rid = "osgv-" + std::string(32, id.back());
  SandboxRecord r = StoppedRecord(id, rid);
  std::string upper = layout.upper(rid);
  fs::create_directories(upper + "/root/deep/er");
  fs::create_directories(layout.rootfs(rid));
  fs::create_directories(layout.work(rid));
  Write(upper + "/root/marker", "before-stop\n");
  Write(upper + "/root/deep/er/file", std::string(100000, 'x'));
  chmod((upper + "/root/deep/er/file").c_str(), 0640);
  fs::create_symlink("/etc/passwd", upper + "/root/link");
  fs::create_hard_link(upper + "/root/marker", upper + "/root/hardlink");
  {
    // A sparse file: 8 MiB hole, then data.
    std::ofstream f(upper + "/root/sparse", std::ios::binary);
    f.seekp(8 << 20);
    f << "tail";
  }
  struct timespec times[2] = {{1'600'000'000, 123456789}, {1'600'000'000, 123456789}};
  REQUIRE(utimensat(AT_FDCWD, (upper + "/root/marker").c_str(), times, AT_SYMLINK_NOFOLLOW) == 0);
  // The token file bind-mounted from the sandbox dir (it travels), and a
  // per-sandbox host path outside it (it does not).
  Write(layout.sandbox_dir(rid) + "/auth/sandbox.jwt", "secret-token\n");
  chmod((layout.sandbox_dir(rid) + "/auth").c_str(), 0700);
  chmod((layout.sandbox_dir(rid) + "/auth/sandbox.jwt").c_str(), 0600);
  json spec = {
      {"ociVersion", "1.0.2"},
      {"root", {{"path", "rootfs"}}},
      {"mounts",
       {{{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}},
        {{"destination", "/etc/openshell/auth/sandbox.jwt"},
         {"type", "bind"},
         {"source", layout.sandbox_dir(rid) + "/auth/sandbox.jwt"},
         {"options", {"rbind", "ro"}}},
        {{"destination", "/etc/hosts"},
         {"type", "bind"},
         {"source", "/run/osgv-test-net/" + rid + "/hosts"},
         {"options", {"rbind", "ro"}}}}},
      {"linux",
       {{"cgroupsPath", "/openshell-gvisor/" + rid},
        {"namespaces", {{{"type", "network"}, {"path", "/var/run/netns/" + rid}}}}}}};
  Write(layout.bundle_config(rid), spec.dump(2));
  if (with_memory) {
    std::string root = layout.root + "/checkpoints/" + rid;
    fs::create_directories(root + "/tmp-1");
    Write(root + "/tmp-1/checkpoint.img", std::string(3 << 20, 'm') + "memory");
    Write(root + "/tmp-1/pages.img", "pages");
    CheckpointImage image;
    image.compression = "flate";
    image.created_at_ms = 1'700'000'000'400;
    image.duration_ms = 42;
    auto sealed = SealCheckpoint(root + "/tmp-1", root + "/image", image);
    RequireOk(sealed.status());
    r.checkpoint_json = CheckpointToJson(*sealed);
  } else {
    r.reason = reason::kStoppedWithoutMemory;
  }
  RequireOk(store->Insert(r));
  return r;
}

// An entry an attacker adds to an archive.
struct AddedEntry {
  explicit AddedEntry(std::string n, mode_t t = AE_IFREG, int p = 0644)
      : name(std::move(n)), type(t), perm(p) {}
  std::string name;
  mode_t type;
  int perm;
  int64_t uid = 0;
  int64_t gid = 0;
  std::string data;
  dev_t rdev = 0;          // AE_IFCHR / AE_IFBLK
  std::string hardlink;    // an archive path
  std::string symlink;     // AE_IFLNK target
  std::vector<std::pair<std::string, std::string>> xattrs;
  std::string acl;  // POSIX access ACL, in getfacl's text form
};

inline void WriteEntry(archive* out, const AddedEntry& t) {
  archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, t.name.c_str());
  archive_entry_set_filetype(e, t.type);
  archive_entry_set_perm(e, t.perm);
  archive_entry_set_uid(e, t.uid);
  archive_entry_set_gid(e, t.gid);
  if (t.type == AE_IFCHR || t.type == AE_IFBLK) archive_entry_set_rdev(e, t.rdev);
  if (!t.hardlink.empty()) archive_entry_set_hardlink(e, t.hardlink.c_str());
  if (!t.symlink.empty()) archive_entry_set_symlink(e, t.symlink.c_str());
  if (!t.acl.empty()) {
    REQUIRE(archive_entry_acl_from_text(e, t.acl.c_str(), ARCHIVE_ENTRY_ACL_TYPE_ACCESS) ==
            ARCHIVE_OK);
  }
  for (const auto& [k, v] : t.xattrs) archive_entry_xattr_add_entry(e, k.c_str(), v.data(), v.size());
  archive_entry_set_size(e, t.type == AE_IFREG ? static_cast<la_int64_t>(t.data.size()) : 0);
  REQUIRE(archive_write_header(out, e) == ARCHIVE_OK);
  if (!t.data.empty()) archive_write_data(out, t.data.data(), t.data.size());
  archive_entry_free(e);
}

// Copies an archive entry by entry: `edit` may change a regular file's
// bytes (return false to drop the entry), and `after` adds entries right
// after the entry of that name (a directory's without its trailing slash).
using EntryEdit = std::function<bool(const std::string& name, std::string* data)>;
inline void Repack(const std::string& from, const std::string& to, const EntryEdit& edit,
                   const std::map<std::string, std::vector<AddedEntry>>& after = {}) {
  archive* in = archive_read_new();
  archive_read_support_filter_all(in);
  archive_read_support_format_tar(in);
  REQUIRE(archive_read_open_filename(in, from.c_str(), 1 << 16) == ARCHIVE_OK);
  archive* out = archive_write_new();
  archive_write_set_format_pax(out);
  archive_write_add_filter_zstd(out);
  REQUIRE(archive_write_open_filename(out, to.c_str()) == ARCHIVE_OK);
  archive_entry* entry = nullptr;
  while (archive_read_next_header(in, &entry) == ARCHIVE_OK) {
    std::string name = archive_entry_pathname(entry);
    std::string data;
    char buf[65536];
    la_ssize_t n;
    while ((n = archive_read_data(in, buf, sizeof buf)) > 0) data.append(buf, n);
    bool keep = true;
    if (archive_entry_filetype(entry) == AE_IFREG && archive_entry_hardlink(entry) == nullptr) {
      keep = edit(name, &data);
      archive_entry_set_size(entry, static_cast<la_int64_t>(data.size()));
      archive_entry_sparse_clear(entry);
    }
    if (keep) {
      REQUIRE(archive_write_header(out, entry) == ARCHIVE_OK);
      if (!data.empty()) archive_write_data(out, data.data(), data.size());
    }
    // The pax writer spells directories with a trailing slash ("upper/").
    std::string key = name.size() > 1 && name.back() == '/' ? name.substr(0, name.size() - 1) : name;
    if (auto it = after.find(key); it != after.end()) {
      for (const auto& t : it->second) WriteEntry(out, t);
    }
  }
  archive_write_close(out);
  archive_write_free(out);
  archive_read_free(in);
}

// The bytes of one regular-file entry ("" when absent).
inline std::string ReadEntry(const std::string& file, const std::string& wanted) {
  archive* in = archive_read_new();
  archive_read_support_filter_all(in);
  archive_read_support_format_tar(in);
  REQUIRE(archive_read_open_filename(in, file.c_str(), 1 << 16) == ARCHIVE_OK);
  archive_entry* entry = nullptr;
  std::string data;
  while (archive_read_next_header(in, &entry) == ARCHIVE_OK) {
    if (archive_entry_pathname(entry) != wanted) continue;
    char buf[65536];
    la_ssize_t n;
    while ((n = archive_read_data(in, buf, sizeof buf)) > 0) data.append(buf, n);
    break;
  }
  archive_read_free(in);
  return data;
}

inline std::set<std::string> Listing(const std::string& dir) {
  namespace fs = std::filesystem;
  std::set<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator();
       ++it) {
    out.insert(it->path().string());
  }
  return out;
}

}  // namespace osgv::testing
