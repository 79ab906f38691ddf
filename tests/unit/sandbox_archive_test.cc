// The sandbox archive (export/import) without runsc: a record in a temp
// store, a made-up writable layer, bundle and checkpoint image.
#include "temp_dir.h"
#include "sandbox_archive_fixture.h"
#include "lifecycle/migration/sandbox_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>

#include "lifecycle/checkpoint/checkpoint_image.h"
#include "lifecycle/sandbox_plan.h"
#include "lifecycle/spec_codec.h"
#include "lifecycle/fs_util.h"
#include "lifecycle/sandbox_status.h"
#include "lifecycle/state_layout.h"
#include "lifecycle/store/state_store.h"

namespace osgv {
namespace {

namespace fs = std::filesystem;
using namespace testing;  // TempDir and the archive fixture
using json = nlohmann::json;

}  // namespace

TEST_CASE("archive manifest round-trips and leaves host-specific fields out", "[archive]") {
  SandboxRecord r = StoppedRecord("sb-1", "osgv-" + std::string(32, 'a'));
  r.exit_code = 3;
  CheckpointImage image;
  image.dir = "/state/checkpoints/osgv-aaaa/image";
  image.files = {{"checkpoint.img", "sha256:" + std::string(64, 'a')},
                 {"pages.img", "sha256:" + std::string(64, 'b')}};
  image.bytes = 12345;
  image.compression = "none";
  image.created_at_ms = 99;
  image.duration_ms = 7;
  r.checkpoint_json = CheckpointToJson(image);
  r.monitor_pid = 4242;

  auto m = ManifestForExport(r);
  RequireOk(m.status());
  CHECK(m->format_version == kSandboxArchiveFormatVersion);
  CHECK(m->driver_version == OSGV_VERSION);
  CHECK(m->record.runsc_id.empty());
  CHECK(m->record.monitor_pid == 0);
  CHECK(m->record.checkpoint_json.empty());
  REQUIRE(m->checkpoint.has_value());
  CHECK(m->checkpoint->dir.empty());
  m->bundle_config_digest = "sha256:" + std::string(64, 'd');

  std::string text = SandboxManifestToJson(*m);
  CHECK(text.find("osgv-aaaa") == std::string::npos);  // no runsc id, no image dir
  auto back = SandboxManifestFromJson(text);
  RequireOk(back.status());
  CHECK(back->record == m->record);
  CHECK(back->driver_version == m->driver_version);
  CHECK(back->exported_at_ms == m->exported_at_ms);
  CHECK(back->bundle_config_digest == m->bundle_config_digest);
  REQUIRE(back->checkpoint.has_value());
  CHECK(back->checkpoint->files == image.files);
  CHECK(back->checkpoint->bytes == 12345);
  CHECK(back->checkpoint->compression == "none");
  CHECK(back->checkpoint->created_at_ms == 99);
  CHECK(back->checkpoint->duration_ms == 7);

  // Stopped without memory: no checkpoint at all.
  r.checkpoint_json.clear();
  r.exit_code.reset();
  auto cold = ManifestForExport(r);
  RequireOk(cold.status());
  CHECK_FALSE(cold->checkpoint.has_value());
  auto cold_back = SandboxManifestFromJson(SandboxManifestToJson(*cold));
  RequireOk(cold_back.status());
  CHECK_FALSE(cold_back->checkpoint.has_value());
  CHECK(cold_back->record == cold->record);
}

TEST_CASE("archive manifest: versions and malformed manifests are refused", "[archive]") {
  auto m = ManifestForExport(StoppedRecord("sb-v", "osgv-" + std::string(32, 'v')));
  RequireOk(m.status());
  json j = json::parse(SandboxManifestToJson(*m));

  json newer = j;
  newer["format_version"] = kSandboxArchiveFormatVersion + 1;
  auto st = SandboxManifestFromJson(newer.dump()).status();
  CHECK(absl::IsFailedPrecondition(st));
  CHECK(st.message().find("newer than this driver") != std::string::npos);

  json zero = j;
  zero["format_version"] = 0;
  CHECK(absl::IsInvalidArgument(SandboxManifestFromJson(zero.dump()).status()));

  json other = j;
  other["format"] = "something-else";
  CHECK(absl::IsInvalidArgument(SandboxManifestFromJson(other.dump()).status()));
  other["format"] = json::object();  // threw out of the parser (fuzzing)
  CHECK(absl::IsInvalidArgument(SandboxManifestFromJson(other.dump()).status()));
  json huge = j;
  huge["record"]["created_at_ms"] = 1.7e140;  // an undefined float-to-int cast (fuzzing)
  CHECK(absl::IsInvalidArgument(SandboxManifestFromJson(huge.dump()).status()));
  CHECK(absl::IsInvalidArgument(SandboxManifestFromJson("not json").status()));

  json running = j;
  running["record"]["phase"] = "running";
  CHECK(absl::IsInvalidArgument(SandboxManifestFromJson(running.dump()).status()));

  json no_id = j;
  no_id["record"].erase("id");
  CHECK(absl::IsInvalidArgument(SandboxManifestFromJson(no_id.dump()).status()));

  for (const std::string bad : {"../escape", "a/b", "manifest.json", "", ".."}) {
    json evil = j;
    evil["checkpoint"] = {{"files", {{bad, "sha256:" + std::string(64, 'a')}}}};
    INFO(bad);
    CHECK(absl::IsInvalidArgument(SandboxManifestFromJson(evil.dump()).status()));
  }
  for (const std::string bad : {"upper/x", "bundle/config.json", "../x", "a//b", "work"}) {
    json evil = j;
    evil["files"] = {bad};
    INFO(bad);
    CHECK(absl::IsInvalidArgument(SandboxManifestFromJson(evil.dump()).status()));
  }
  json bad_digest = j;
  bad_digest["checkpoint"] = {{"files", {{"checkpoint.img", "md5:abc"}}}};
  CHECK(absl::IsInvalidArgument(SandboxManifestFromJson(bad_digest.dump()).status()));
}

TEST_CASE("export refuses a sandbox that is not stopped, naming its phase", "[archive]") {
  for (SandboxPhase p : {phase::kRunning, phase::kStarting, phase::kStopping,
                        phase::kProvisioning, phase::kExited, phase::kFailed, phase::kDeleting}) {
    SandboxRecord r = StoppedRecord("sb-p", "osgv-" + std::string(32, 'p'));
    r.phase = p;
    auto st = ManifestForExport(r).status();
    INFO(PhaseName(p) << ": " << st.ToString());
    CHECK(absl::IsFailedPrecondition(st));
    CHECK(st.message().find("sb-p") != std::string::npos);
    CHECK(st.message().find(PhaseName(p)) != std::string::npos);
    CHECK(st.message().find("stop it first") != std::string::npos);
  }

  TempDir dir;
  StateLayout layout{dir / "state"};
  auto store = OpenStore(layout);
  SandboxRecord r = MakeStoppedSandbox(store.get(), layout, "sb-r", true);
  r.phase = phase::kRunning;
  r.generation++;
  RequireOk(store->Update(r));
  std::string file = dir / "out.tar.zst";
  auto st = ExportSandbox(store.get(), layout, "name-sb-r", file).status();
  INFO(st.ToString());
  CHECK(absl::IsFailedPrecondition(st));
  CHECK(st.message().find("running") != std::string::npos);
  CHECK_FALSE(fs::exists(file));
  CHECK_FALSE(fs::exists(file + ".tmp"));

  CHECK(absl::IsNotFound(ExportSandbox(store.get(), layout, "nobody", file).status()));
}

TEST_CASE("export then import moves a stopped sandbox with its memory to another state dir", "[archive]") {
  TempDir dir;
  StateLayout a{dir / "a"};
  auto store_a = OpenStore(a);
  SandboxRecord orig = MakeStoppedSandbox(store_a.get(), a, "sb-m", true);
  const std::string upper_a = a.upper(orig.runsc_id);
  bool root = geteuid() == 0;
  if (root) {
    // What overlayfs leaves in an upper dir: whiteouts and opaque dirs.
    REQUIRE(mknod((upper_a + "/root/deleted").c_str(), S_IFCHR | 0, makedev(0, 0)) == 0);
    fs::create_directories(upper_a + "/opaque");
    REQUIRE(setxattr((upper_a + "/opaque").c_str(), "trusted.overlay.opaque", "y", 1, 0) == 0);
    REQUIRE(chown((upper_a + "/root/deep").c_str(), 4242, 4343) == 0);
  }

  std::string file = dir / "sb.tar.zst";
  auto exported = ExportSandbox(store_a.get(), a, orig.id, file);
  RequireOk(exported.status());
  CHECK(fs::exists(file));
  CHECK_FALSE(fs::exists(file + ".tmp"));
  CHECK((fs::status(file).permissions() & fs::perms::others_read) == fs::perms::none);
  CHECK(exported->archive_bytes == fs::file_size(file));
  REQUIRE(exported->warnings.size() == 1);  // the host network file does not travel
  CHECK(exported->warnings[0].find("/run/osgv-test-net/") != std::string::npos);
  // Exporting again over the same file is refused.
  CHECK(absl::IsAlreadyExists(ExportSandbox(store_a.get(), a, orig.id, file).status()));

  auto manifest = ReadSandboxArchiveManifest(file);
  RequireOk(manifest.status());
  CHECK(manifest->record.id == orig.id);
  CHECK(manifest->record.spec_json == orig.spec_json);
  CHECK(manifest->record.image_digest == orig.image_digest);
  REQUIRE(manifest->checkpoint.has_value());
  CHECK(manifest->checkpoint->files.size() == 2);

  StateLayout b{dir / "b"};
  auto store_b = OpenStore(b);
  auto imported = ImportSandbox(store_b.get(), b, ImportConfig(), file);
  RequireOk(imported.status());
  const SandboxRecord& r = imported->record;
  CHECK(r.id == orig.id);
  CHECK(r.name == orig.name);
  CHECK(r.workspace == orig.workspace);
  CHECK(r.namespace_name == orig.namespace_name);
  CHECK(r.spec_json == orig.spec_json);
  CHECK(r.image_ref == orig.image_ref);
  CHECK(r.image_digest == orig.image_digest);
  CHECK(r.phase == phase::kStopped);
  CHECK(r.reason == reason::kCheckpointed);
  CHECK(r.created_at_ms == orig.created_at_ms);
  CHECK(r.generation > orig.generation);
  CHECK(r.monitor_pid == 0);
  CHECK(r.runsc_id != orig.runsc_id);
  CHECK(r.runsc_id.size() == orig.runsc_id.size());
  CHECK(r.runsc_id.rfind("osgv-", 0) == 0);
  // Its plan is this host's (the exporting host's never travels).
  CHECK(manifest->record.plan_json.empty());
  auto request = DecodeRequest(r.spec_json);
  RequireOk(request.status());
  auto plan = PlanSandbox(*request, ImportConfig());
  RequireOk(plan.status());
  CHECK(r.plan_json == EncodePlan(*plan));
  // The image is not on this host: a warning, not a failure.
  CHECK_FALSE(imported->warnings.empty());

  auto stored = store_b->Get(r.id);
  RequireOk(stored.status());
  REQUIRE(stored->has_value());
  CHECK(**stored == r);

  // Memory: under B's checkpoint root, verified, with a manifest.
  auto image = CheckpointFromJson(r.checkpoint_json);
  RequireOk(image.status());
  CHECK(image->dir == b.root + "/checkpoints/" + r.runsc_id + "/image");
  RequireOk(VerifyCheckpoint(*image));
  auto on_disk = ReadManifest(image->dir);
  RequireOk(on_disk.status());
  CHECK(on_disk->dir == image->dir);
  CHECK(image->compression == "flate");

  // Files.
  const std::string upper_b = b.upper(r.runsc_id);
  CHECK(Read(upper_b + "/root/marker") == "before-stop\n");
  CHECK(Read(upper_b + "/root/deep/er/file") == std::string(100000, 'x'));
  CHECK((fs::status(upper_b + "/root/deep/er/file").permissions() & fs::perms::all) ==
        (fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read));
  CHECK(fs::read_symlink(upper_b + "/root/link") == "/etc/passwd");
  CHECK(fs::equivalent(upper_b + "/root/marker", upper_b + "/root/hardlink"));
  CHECK(fs::file_size(upper_b + "/root/sparse") == (8u << 20) + 4);
  struct stat st;
  REQUIRE(stat((upper_b + "/root/sparse").c_str(), &st) == 0);
  CHECK(st.st_blocks * 512 < (1 << 20));  // still sparse
  REQUIRE(stat((upper_b + "/root/marker").c_str(), &st) == 0);
  CHECK(st.st_mtim.tv_sec == 1'600'000'000);
  CHECK(st.st_mtim.tv_nsec == 123456789);
  if (root) {
    REQUIRE(lstat((upper_b + "/root/deleted").c_str(), &st) == 0);
    CHECK(S_ISCHR(st.st_mode));
    CHECK(st.st_rdev == makedev(0, 0));
    char v[4] = {0};
    CHECK(getxattr((upper_b + "/opaque").c_str(), "trusted.overlay.opaque", v, sizeof v) == 1);
    CHECK(v[0] == 'y');
    REQUIRE(stat((upper_b + "/root/deep").c_str(), &st) == 0);
    CHECK(st.st_uid == 4242);
    CHECK(st.st_gid == 4343);
  }

  // Bundle: none yet (Start writes it from the request); empty bundle,
  // work and rootfs dirs.
  CHECK_FALSE(fs::exists(b.bundle_config(r.runsc_id)));
  CHECK((fs::status(b.bundle(r.runsc_id)).permissions() & fs::perms::all) ==
        (fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec));
  // The token came along, private to root.
  std::string token = b.sandbox_dir(r.runsc_id) + "/auth/sandbox.jwt";
  CHECK(Read(token) == "secret-token\n");
  CHECK((fs::status(token).permissions() & fs::perms::all) ==
        (fs::perms::owner_read | fs::perms::owner_write));
  CHECK((fs::status(b.sandbox_dir(r.runsc_id) + "/auth").permissions() & fs::perms::all) ==
        fs::perms::owner_all);
  CHECK(manifest->carried_files == std::vector<std::string>{"auth/sandbox.jwt"});
  CHECK(fs::is_directory(b.rootfs(r.runsc_id)));
  CHECK(fs::is_empty(b.rootfs(r.runsc_id)));
  CHECK(fs::is_directory(b.work(r.runsc_id)));

  // Nothing staged is left; importing again is refused and changes nothing.
  for (const auto& p : Listing(b.root)) CHECK(p.find(".import-") == std::string::npos);
  auto before = Listing(b.root);
  auto again = ImportSandbox(store_b.get(), b, ImportConfig(), file);
  INFO(again.status().ToString());
  CHECK(absl::IsAlreadyExists(again.status()));
  CHECK(again.status().message().find(orig.id) != std::string::npos);
  CHECK(Listing(b.root) == before);

  // Same name in the same workspace under another id: refused too.
  TempDir dir2;
  StateLayout c{dir2 / "c"};
  auto store_c = OpenStore(c);
  SandboxRecord clash = StoppedRecord("other-id", "osgv-" + std::string(32, 'z'));
  clash.name = orig.name;
  clash.workspace = orig.workspace;
  RequireOk(store_c->Insert(clash));
  auto named = ImportSandbox(store_c.get(), c, ImportConfig(), file);
  CHECK(absl::IsAlreadyExists(named.status()));
  CHECK(named.status().message().find("sandbox.name") != std::string::npos);
}

TEST_CASE("import places the checkpoint under checkpoint_dir when it is configured", "[archive]") {
  TempDir dir;
  StateLayout a{dir / "a"};
  auto store_a = OpenStore(a);
  SandboxRecord orig = MakeStoppedSandbox(store_a.get(), a, "sb-c", true);
  std::string file = dir / "sb.tar.zst";
  RequireOk(ExportSandbox(store_a.get(), a, orig.id, file).status());
  StateLayout b{dir / "b"};
  auto store_b = OpenStore(b);
  std::string ckdir = dir / "elsewhere";
  Config config = ImportConfig();
  config.checkpoint_dir = ckdir;
  auto imported = ImportSandbox(store_b.get(), b, config, file);
  RequireOk(imported.status());
  auto image = CheckpointFromJson(imported->record.checkpoint_json);
  RequireOk(image.status());
  CHECK(image->dir == ckdir + "/" + imported->record.runsc_id + "/image");
  RequireOk(VerifyCheckpoint(*image));
  CHECK_FALSE(fs::exists(b.root + "/checkpoints/" + imported->record.runsc_id));
}

TEST_CASE("a sandbox stopped without memory exports and imports to boot cold", "[archive]") {
  TempDir dir;
  StateLayout a{dir / "a"};
  auto store_a = OpenStore(a);
  SandboxRecord orig = MakeStoppedSandbox(store_a.get(), a, "sb-n", false);
  std::string file = dir / "sb.tar.zst";
  auto exported = ExportSandbox(store_a.get(), a, orig.id, file);
  RequireOk(exported.status());
  CHECK_FALSE(exported->manifest.checkpoint.has_value());

  StateLayout b{dir / "b"};
  auto store_b = OpenStore(b);
  auto imported = ImportSandbox(store_b.get(), b, ImportConfig(), file);
  RequireOk(imported.status());
  CHECK(imported->record.checkpoint_json.empty());
  CHECK(imported->record.reason == reason::kStoppedWithoutMemory);
  CHECK(imported->record.phase == phase::kStopped);
  CHECK(Read(b.upper(imported->record.runsc_id) + "/root/marker") == "before-stop\n");
  CHECK_FALSE(fs::exists(b.root + "/checkpoints/" + imported->record.runsc_id));
  for (const auto& p : Listing(b.root)) CHECK(p.find(".import-") == std::string::npos);
}

TEST_CASE("import of a damaged or foreign archive fails and leaves the state dir as it was", "[archive]") {
  TempDir dir;
  StateLayout a{dir / "a"};
  auto store_a = OpenStore(a);
  SandboxRecord orig = MakeStoppedSandbox(store_a.get(), a, "sb-t", true);
  std::string file = dir / "sb.tar.zst";
  RequireOk(ExportSandbox(store_a.get(), a, orig.id, file).status());

  StateLayout b{dir / "b"};
  auto store_b = OpenStore(b);
  auto expect_untouched = [&](const absl::Status& st) {
    INFO(st.ToString());
    CHECK_FALSE(st.ok());
    auto records = store_b->List();
    RequireOk(records.status());
    CHECK(records->empty());
    for (const auto& d : {b.sandboxes(), b.root + "/checkpoints"}) {
      INFO(d);
      CHECK((!fs::exists(d) || fs::is_empty(d)));
    }
  };

  SECTION("a checkpoint file was changed") {
    std::string bad = dir / "tampered.tar.zst";
    Repack(file, bad, [](const std::string& name, std::string* data) {
      if (name == "checkpoint/checkpoint.img") (*data)[data->size() / 2] ^= 0x01;
      return true;
    });
    auto st = ImportSandbox(store_b.get(), b, ImportConfig(), bad).status();
    expect_untouched(st);
    CHECK(absl::IsDataLoss(st));
    CHECK(st.message().find("sb-t") != std::string::npos);
    CHECK(st.message().find("checkpoint.img") != std::string::npos);
  }
  SECTION("a checkpoint file is missing") {
    // The manifest lists a file the archive does not hold.
    std::string listed = dir / "listed.tar.zst";
    Repack(file, listed, [](const std::string& name, std::string* data) {
      if (name != kSandboxArchiveManifestName) return true;
      json j = json::parse(*data);
      j["checkpoint"]["files"]["extra.img"] = "sha256:" + std::string(64, 'e');
      *data = j.dump();
      return true;
    });
    auto st = ImportSandbox(store_b.get(), b, ImportConfig(), listed).status();
    expect_untouched(st);
    CHECK(absl::IsDataLoss(st));
    CHECK(st.message().find("extra.img") != std::string::npos);
  }
  SECTION("the archive is from a newer driver") {
    std::string newer = dir / "newer.tar.zst";
    Repack(file, newer, [](const std::string& name, std::string* data) {
      if (name != kSandboxArchiveManifestName) return true;
      json j = json::parse(*data);
      j["format_version"] = kSandboxArchiveFormatVersion + 1;
      *data = j.dump();
      return true;
    });
    auto st = ImportSandbox(store_b.get(), b, ImportConfig(), newer).status();
    expect_untouched(st);
    CHECK(absl::IsFailedPrecondition(st));
  }
  SECTION("the file is not an archive") {
    std::string junk = dir / "junk";
    Write(junk, "this is not a tarball at all");
    auto st = ImportSandbox(store_b.get(), b, ImportConfig(), junk).status();
    expect_untouched(st);
    CHECK(absl::IsInvalidArgument(st));
    CHECK(absl::IsNotFound(ImportSandbox(store_b.get(), b, ImportConfig(), dir / "absent").status()));
  }
  SECTION("the archive is truncated") {
    std::string cut = dir / "cut.tar.zst";
    std::string bytes = Read(file);
    Write(cut, bytes.substr(0, bytes.size() * 2 / 3));
    expect_untouched(ImportSandbox(store_b.get(), b, ImportConfig(), cut).status());
  }
}

}  // namespace osgv

namespace osgv {

TEST_CASE("export never writes through a temp file or symlink that was already there",
          "[archive]") {
  TempDir dir;
  StateLayout a{dir / "a"};
  auto store = OpenStore(a);
  SandboxRecord orig = MakeStoppedSandbox(store.get(), a, "sb-h", false);
  std::string file = dir / "sb.tar.zst";
  std::string victim = dir / "victim";
  Write(victim, "keep me");
  fs::create_symlink(victim, file + ".tmp");
  auto st = ExportSandbox(store.get(), a, orig.id, file).status();
  INFO(st.ToString());
  CHECK(absl::IsAlreadyExists(st));
  CHECK(st.message().find(file + ".tmp") != std::string::npos);
  CHECK(Read(victim) == "keep me");
  CHECK(fs::is_symlink(file + ".tmp"));  // not ours to remove
  CHECK_FALSE(fs::exists(file));
}

}  // namespace osgv
