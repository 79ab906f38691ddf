// Import treats the archive as untrusted: archives a test exports and then
// tampers with (libarchive, as an attacker would) are refused, leaving the
// state dir as it was, or defused, with a warning that says what was
// dropped.
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "absl/strings/str_join.h"
#include "lifecycle/image/digest.h"
#include "lifecycle/migration/sandbox_archive.h"
#include "lifecycle/spec_codec.h"
#include "sandbox_archive_fixture.h"
#include "temp_dir.h"

namespace osgv {
namespace {

namespace fs = std::filesystem;
using namespace testing;  // TempDir and the archive fixture
using json = nlohmann::json;

bool Has(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

bool AnyHas(const std::vector<std::string>& lines, const std::string& needle) {
  for (const auto& l : lines) {
    if (Has(l, needle)) return true;
  }
  return false;
}

// One exported sandbox (host A) and an empty state dir to import into (B).
class Tamper {
 public:
  Tamper() : a_{dir_ / "a"}, b{dir_ / "b"} {
    store_a_ = OpenStore(a_);
    store_b = OpenStore(b);
    orig = MakeStoppedSandbox(store_a_.get(), a_, "sb-x", true);
    file = dir_ / "sb.tar.zst";
    RequireOk(ExportSandbox(store_a_.get(), a_, orig.id, file).status());
  }

  // The exported archive rewritten by `edit` with `extra` entries added.
  std::string Tampered(const EntryEdit& edit,
                       const std::map<std::string, std::vector<AddedEntry>>& extra = {}) {
    std::string out = dir_ / ("tampered-" + std::to_string(++n_) + ".tar.zst");
    Repack(file, out, edit, extra);
    return out;
  }
  std::string WithEntries(const std::string& after, const std::vector<AddedEntry>& extra) {
    return Tampered([](const std::string&, std::string*) { return true; }, {{after, extra}});
  }
  // The manifest edited by `fn`.
  std::string WithManifest(const std::function<void(json&)>& fn) {
    return Tampered([&](const std::string& name, std::string* data) {
      if (name == kSandboxArchiveManifestName) {
        json j = json::parse(*data);
        fn(j);
        *data = j.dump();
      }
      return true;
    });
  }
  // The stored request (record.spec_json) edited by `fn`.
  std::string WithSpec(const std::function<void(json&)>& fn) {
    return WithManifest([&](json& m) {
      json spec = json::parse(m["spec_json"].get<std::string>());
      fn(spec);
      m["spec_json"] = spec.dump();
    });
  }
  // bundle/config.json edited by `fn`, its digest in the manifest made to
  // match (which anyone can do).
  std::string WithBundleConfig(const std::function<void(json&)>& fn) {
    json config = json::parse(ReadEntry(file, "bundle/config.json"));
    fn(config);
    std::string text = config.dump(2);
    return Tampered([&](const std::string& name, std::string* data) {
      if (name == "bundle/config.json") *data = text;
      if (name == kSandboxArchiveManifestName) {
        json j = json::parse(*data);
        j["bundle_config_digest"] = Sha256String(text);
        *data = j.dump();
      }
      return true;
    });
  }

  absl::StatusOr<ImportResult> Import(const std::string& archive) {
    return ImportSandbox(store_b.get(), b, ImportConfig(), archive);
  }

  // Refused with `code`, a message naming `needle`, and nothing written.
  void Refused(const std::string& archive, absl::StatusCode code, const std::string& needle) {
    auto st = Import(archive).status();
    INFO(st.ToString());
    CHECK(st.code() == code);
    CHECK(Has(std::string(st.message()), needle));
    auto records = store_b->List();
    RequireOk(records.status());
    CHECK(records->empty());
    for (const auto& d : {b.sandboxes(), b.root + "/checkpoints"}) {
      INFO(d);
      CHECK((!fs::exists(d) || fs::is_empty(d)));
    }
  }

  // Imported; returns the result.
  ImportResult Imported(const std::string& archive) {
    auto r = Import(archive);
    RequireOk(r.status());
    return *r;
  }

 private:
  TempDir dir_;
  StateLayout a_;
  std::unique_ptr<StateStore> store_a_;
  int n_ = 0;

 public:
  StateLayout b;
  std::unique_ptr<StateStore> store_b;
  SandboxRecord orig;
  std::string file;
};

const auto kInvalid = absl::StatusCode::kInvalidArgument;

}  // namespace

// ---- bundle/config.json: never used --------------------------------------------

TEST_CASE_METHOD(Tamper, "import: an archived config.json with a host bind mount is not used",
                 "[archive][tamper]") {
  auto archive = WithBundleConfig([](json& c) {
    c["mounts"].push_back({{"destination", "/host"},
                           {"type", "bind"},
                           {"source", "/"},
                           {"options", {"rbind", "rw"}}});
  });
  auto r = Imported(archive);
  // Start regenerates the bundle from the re-validated request (the same
  // writer as create); nothing of the archived spec is left to run.
  std::string bundle = b.bundle(r.record.runsc_id);
  CHECK(fs::is_directory(bundle));
  CHECK_FALSE(fs::exists(b.bundle_config(r.record.runsc_id)));
  for (const auto& p : Listing(b.root)) {
    if (fs::is_regular_file(fs::symlink_status(p)) && !Has(p, "/checkpoints/")) {
      INFO(p);
      CHECK_FALSE(Has(Read(p), "\"/host\""));
    }
  }
}

TEST_CASE_METHOD(Tamper, "import: an archived config.json with a prestart hook is not used",
                 "[archive][tamper]") {
  auto archive = WithBundleConfig([](json& c) {
    c["hooks"] = {{"prestart", {{{"path", "/bin/sh"}, {"args", {"sh", "-c", "touch /pwned"}}}}}};
  });
  auto r = Imported(archive);
  CHECK_FALSE(fs::exists(b.bundle_config(r.record.runsc_id)));
}

// ---- upper/: only files, dirs, symlinks, hard links and whiteouts ---------------

TEST_CASE_METHOD(Tamper, "import refuses a character device other than a whiteout in upper/",
                 "[archive][tamper]") {
  AddedEntry mem{"upper/dev-mem", AE_IFCHR, 0666};
  mem.rdev = makedev(1, 1);
  Refused(WithEntries("upper", {mem}), kInvalid, "upper/dev-mem");
  Refused(WithEntries("upper", {mem}), kInvalid, "character device 1:1");
}

TEST_CASE_METHOD(Tamper, "import refuses a block device in upper/", "[archive][tamper]") {
  AddedEntry disk{"upper/sda", AE_IFBLK, 0660};
  disk.rdev = makedev(8, 0);
  Refused(WithEntries("upper", {disk}), kInvalid, "'upper/sda' is a block device");
}

TEST_CASE_METHOD(Tamper, "import refuses a FIFO in upper/", "[archive][tamper]") {
  AddedEntry pipe{"upper/pipe", AE_IFIFO, 0600};
  Refused(WithEntries("upper", {pipe}), kInvalid,
          "'upper/pipe' is a FIFO");
}

TEST_CASE_METHOD(Tamper, "import strips setuid and setgid bits from upper/ and says so",
                 "[archive][tamper]") {
  AddedEntry suid{"upper/root/sudo", AE_IFREG, 04755};
  suid.data = "#!/bin/sh\nexec /bin/sh\n";
  AddedEntry sgid{"upper/root/wall", AE_IFREG, 02755};
  sgid.gid = 5;
  sgid.data = "x";
  auto r = Imported(WithEntries("upper", {suid, sgid}));
  std::string upper = b.upper(r.record.runsc_id);
  struct stat st;
  REQUIRE(lstat((upper + "/root/sudo").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0755);
  REQUIRE(lstat((upper + "/root/wall").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0755);
  INFO(absl::StrJoin(r.warnings, "\n"));
  CHECK(AnyHas(r.warnings, "setuid/setgid bits removed from 2 files"));
  CHECK(AnyHas(r.warnings, "upper/root/sudo"));
}

TEST_CASE_METHOD(Tamper, "import drops every xattr but trusted.overlay.opaque, and ACLs",
                 "[archive][tamper]") {
  if (geteuid() != 0) return;  // restoring trusted.* and security.* xattrs needs root
  AddedEntry cap{"upper/root/ping", AE_IFREG, 0755};
  cap.data = "binary";
  // A file capability: cap_sys_admin, effective.
  cap.xattrs = {{"security.capability", std::string("\x01\x00\x00\x02\x00\x00\x20\x00"
                                                    "\x00\x00\x00\x00\x00\x00\x00\x00"
                                                    "\x00\x00\x00\x00",
                                                    20)},
                {"user.note", "hi"}};
  AddedEntry opaque{"upper/opaque", AE_IFDIR, 0755};
  opaque.xattrs = {{"trusted.overlay.opaque", "y"}, {"trusted.overlay.redirect", "/etc"}};
  auto r = Imported(WithEntries("upper", {cap, opaque}));
  std::string upper = b.upper(r.record.runsc_id);
  char v[64];
  CHECK(getxattr((upper + "/root/ping").c_str(), "security.capability", v, sizeof v) < 0);
  CHECK(getxattr((upper + "/root/ping").c_str(), "user.note", v, sizeof v) < 0);
  CHECK(getxattr((upper + "/opaque").c_str(), "trusted.overlay.redirect", v, sizeof v) < 0);
  CHECK(getxattr((upper + "/opaque").c_str(), "trusted.overlay.opaque", v, sizeof v) == 1);
  INFO(absl::StrJoin(r.warnings, "\n"));
  CHECK(AnyHas(r.warnings, "3 extended attributes dropped"));
  CHECK(AnyHas(r.warnings, "upper/root/ping (security.capability, user.note)"));
}

TEST_CASE_METHOD(Tamper, "import drops ACLs from upper/", "[archive][tamper]") {
  AddedEntry shared{"upper/root/shared", AE_IFREG, 0640};
  shared.data = "x";
  shared.acl = "user::rw-\nuser:4242:rwx\ngroup::r--\nmask::rwx\nother::---\n";
  auto r = Imported(WithEntries("upper", {shared}));
  char v[256];
  std::string path = b.upper(r.record.runsc_id) + "/root/shared";
  CHECK(getxattr(path.c_str(), "system.posix_acl_access", v, sizeof v) < 0);
  INFO(absl::StrJoin(r.warnings, "\n"));
  CHECK(AnyHas(r.warnings, "ACLs dropped from 1 entry"));
  CHECK(AnyHas(r.warnings, "upper/root/shared"));
}

TEST_CASE_METHOD(Tamper, "import refuses a hard link that leaves upper/", "[archive][tamper]") {
  AddedEntry passwd{"upper/passwd"};
  passwd.hardlink = "/etc/passwd";
  Refused(WithEntries("upper", {passwd}), kInvalid, "'upper/passwd' is a hard link outside upper/");
  AddedEntry jwt{"upper/jwt"};
  jwt.hardlink = "files/auth/sandbox.jwt";
  Refused(WithEntries("upper", {jwt}), kInvalid, "'upper/jwt' is a hard link outside upper/");
}

TEST_CASE_METHOD(Tamper, "import refuses entry names that climb out or are absolute",
                 "[archive][tamper]") {
  Refused(WithEntries("upper", {AddedEntry{"upper/../../../../tmp/osgv-escape"}}), kInvalid,
          "has a bad name");
  Refused(WithEntries("upper", {AddedEntry{"/upper/abs"}}), kInvalid,
          "'/upper/abs' has an absolute name");
  Refused(WithEntries("upper", {AddedEntry{"/etc/osgv-evil"}}), kInvalid, "/etc/osgv-evil");
  CHECK_FALSE(fs::exists("/tmp/osgv-escape"));
  CHECK_FALSE(fs::exists("/etc/osgv-evil"));
}

TEST_CASE_METHOD(Tamper, "import refuses a second manifest", "[archive][tamper]") {
  AddedEntry second{kSandboxArchiveManifestName, AE_IFREG, 0600};
  second.data = ReadEntry(file, kSandboxArchiveManifestName);
  Refused(WithEntries(kSandboxArchiveManifestName, {second}), kInvalid,
          "second osgv-sandbox.json");
}

// ---- files/: only the token ------------------------------------------------------

TEST_CASE_METHOD(Tamper, "import carries only the sandbox token file", "[archive][tamper]") {
  SECTION("another carried file") {
    AddedEntry evil{"files/etc/cron.d", AE_IFREG, 0644};
    evil.data = "* * * * * root sh\n";
    std::string archive = Tampered(
        [](const std::string& name, std::string* data) {
          if (name == kSandboxArchiveManifestName) {
            json j = json::parse(*data);
            j["files"].push_back("etc/cron.d");
            *data = j.dump();
          }
          return true;
        },
        {{"upper", {evil}}});
    Refused(archive, kInvalid, "files: 'etc/cron.d'");
  }
  SECTION("the token as a symlink") {
    AddedEntry link{"files/auth/sandbox.jwt", AE_IFLNK, 0777};
    link.symlink = "/etc/shadow";
    std::string archive = Tampered(
        [](const std::string& name, std::string*) { return name != "files/auth/sandbox.jwt"; },
        {{"upper", {link}}});
    Refused(archive, kInvalid, "'files/auth/sandbox.jwt' is not a single regular file");
  }
  SECTION("the token setuid") {
    std::string token = ReadEntry(file, "files/auth/sandbox.jwt");
    AddedEntry suid{"files/auth/sandbox.jwt", AE_IFREG, 04755};
    suid.data = token;
    std::string archive = Tampered(
        [](const std::string& name, std::string*) { return name != "files/auth/sandbox.jwt"; },
        {{"upper", {suid}}});
    Refused(archive, kInvalid, "'files/auth/sandbox.jwt' is not a single regular file");
  }
  SECTION("the token twice") {
    std::string token = ReadEntry(file, "files/auth/sandbox.jwt");
    AddedEntry again{"files/auth/sandbox.jwt", AE_IFREG, 0600};
    again.data = token;
    Refused(WithEntries("files/auth/sandbox.jwt", {again}), kInvalid,
            "'files/auth/sandbox.jwt' is not a single regular file");
  }
}

// ---- the record: re-validated as at create --------------------------------------

TEST_CASE_METHOD(Tamper, "import refuses a stored request with host mounts", "[archive][tamper]") {
  auto archive = WithSpec([](json& s) {
    s["host_mounts"] = {{{"source", "/"}, {"destination", "/host"}, {"read_only", false}}};
  });
  Refused(archive, kInvalid, "record.spec.host_mounts: ");
}

TEST_CASE_METHOD(Tamper, "import re-validates the stored request and the image fields",
                 "[archive][tamper]") {
  SECTION("a bad image digest") {
    Refused(WithManifest([](json& m) { m["image"]["digest"] = "sha256:../../etc"; }), kInvalid,
            "record.image_digest: ");
  }
  SECTION("another image in the request than in the record") {
    Refused(WithSpec([](json& s) { s["template"]["image"] = "oci:/nonexistent/other:v1"; }),
            kInvalid, "record.image_ref: ");
  }
  SECTION("an oci: image outside the importing driver's images.oci_roots") {
    // Record and request agree, so only the roots rule can refuse it: an
    // archive must not make Start read a host path the operator did not list.
    Refused(WithManifest([](json& m) {
              m["image"]["ref"] = "oci:/etc:v1";
              json spec = json::parse(m["spec_json"].get<std::string>());
              spec["template"]["image"] = "oci:/etc:v1";
              m["spec_json"] = spec.dump();
            }),
            absl::StatusCode::kFailedPrecondition, "images.oci_roots");
  }
  SECTION("an image reference that does not parse") {
    Refused(WithManifest([](json& m) { m["image"]["ref"] = "oci:relative"; }), kInvalid,
            "record.image_ref: ");
  }
  SECTION("a request the validator refuses") {
    Refused(WithSpec([](json& s) { s["environment"] = {{"1BAD NAME", "x"}}; }), kInvalid,
            "record.spec: sandbox.spec.environment");
  }
  SECTION("a request for another sandbox") {
    Refused(WithSpec([](json& s) { s["id"] = "someone-else"; }), kInvalid, "record.spec.id: ");
    Refused(WithSpec([](json& s) { s["workspace"] = "other"; }), kInvalid,
            "record.spec.workspace: ");
  }
  SECTION("a token in the stored request") {
    Refused(WithSpec([](json& s) { s["sandbox_token"] = "eyJ..."; }), kInvalid,
            "record.spec.sandbox_token: ");
  }
  SECTION("a request that is not one") {
    Refused(WithManifest([](json& m) { m["spec_json"] = "[]"; }), kInvalid, "record.spec: ");
  }
}

namespace {

// A stored request as a v0.1.x gateway's create leaves it (spec_codec.cc).
void MakeV01(json& s) {
  s["generation"] = "v0.1";
  s["workload_identity"] = {{"user", "sandbox"}, {"group", ""}};
  s["policy"] = {{"present", true},
                 {"endpoints", {{{"host", "api.example.com"}, {"ports", {443}},
                                 {"allowed_ips", json::array()}}}},
                 {"not_enforced", json::array()}};
}

}  // namespace

TEST_CASE_METHOD(Tamper, "import keeps a v0.1.x sandbox's mode, policy and selectors",
                 "[archive][tamper][generation]") {
  auto r = Imported(WithSpec(MakeV01));
  auto request = DecodeRequest(r.record.spec_json);
  RequireOk(request.status());
  CHECK(request->spec.generation == GatewayGeneration::kV01);
  CHECK(request->spec.workload_user == "sandbox");
  REQUIRE(request->spec.policy.endpoints.size() == 1);
  CHECK(request->spec.policy.endpoints[0].host == "api.example.com");
}

TEST_CASE_METHOD(Tamper, "import re-validates a v0.1.x sandbox's policy",
                 "[archive][tamper][generation]") {
  // A host that would add lines to the sandbox's /etc/hosts, from an archive.
  Refused(WithSpec([](json& s) {
            MakeV01(s);
            s["policy"]["endpoints"][0]["host"] = "a.com\n6.6.6.6 bank.example.com";
          }),
          kInvalid, "record.spec: sandbox.spec.policy.endpoints[0].host");
}

}  // namespace osgv
