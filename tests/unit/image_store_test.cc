#include "lifecycle/image/image_store.h"

#include <sys/stat.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "lifecycle/image/oci_layout.h"
#include "unit/image_test_support.h"

namespace osgv {
namespace {

using namespace osgv::testing;  // NOLINT: fixture builders read as a DSL
using json = nlohmann::json;
namespace fs = std::filesystem;

// A cache dir and an OCI layout beside it.
struct StoreFixture {
  TempDir tmp;
  OciLayoutBuilder layout{tmp.Dir("layout")};
  std::string cache = tmp.path() + "/cache";
  ImageStore store{cache};

  std::string Ref(const std::string& tag = "") const {
    return "oci:" + layout.dir() + (tag.empty() ? "" : ":" + tag);
  }
  // Everything under rootfs/ whose name starts with the digest's hex.
  std::vector<std::string> CacheEntriesFor(const std::string& digest) const {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(cache + "/rootfs", ec)) {
      if (e.path().filename().string().rfind(digest.substr(7), 0) == 0) out.push_back(e.path());
    }
    return out;
  }
  bool StagingEmpty() const {
    std::error_code ec;
    return !fs::exists(cache + "/tmp") || fs::is_empty(cache + "/tmp", ec);
  }
};

// A progress callback that counts layers applied.
struct ProgressLog {
  std::vector<ImageProgress> calls;
  ImageProgressFn fn() {
    return [this](const ImageProgress& p) { calls.push_back(p); };
  }
};

std::string Message(const absl::Status& s) { return std::string(s.message()); }

TEST_CASE("Prepare unpacks a single-layer image and parses its config", "[image][store]") {
  StoreFixture f;
  json config = {{"Env", {"PATH=/usr/bin", "A=1"}},
                 {"WorkingDir", "/srv"},
                 {"User", "1000:1000"},
                 {"Entrypoint", {"/bin/app"}},
                 {"Cmd", nullptr},  // Docker writes null for "unset"
                 {"Labels", {{"org.example/team", "infra"}}}};
  json manifest = f.layout.AddImage({f.layout.AddLayer({File("bin/app", "#!", 0755)})}, config);
  f.layout.WriteIndex({OciLayoutBuilder::Tagged(manifest, "v1")});

  absl::StatusOr<PreparedImage> img = f.store.Prepare(f.Ref("v1"));
  REQUIRE(img.ok());
  CHECK(img->reference == f.Ref("v1"));
  CHECK(img->manifest_digest == manifest["digest"]);
  CHECK(img->rootfs_dir == f.cache + "/rootfs/" + img->manifest_digest.substr(7));
  CHECK(ReadAll(img->rootfs_dir + "/bin/app") == "#!");
  CHECK(img->config.env == std::vector<std::string>{"PATH=/usr/bin", "A=1"});
  CHECK(img->config.working_dir == "/srv");
  CHECK(img->config.user == "1000:1000");
  CHECK(img->config.entrypoint == std::vector<std::string>{"/bin/app"});
  CHECK(img->config.cmd.empty());
  CHECK(img->config.labels.at("org.example/team") == "infra");
  CHECK(fs::is_regular_file(img->rootfs_dir + ".json"));
  CHECK(f.StagingEmpty());
}

TEST_CASE("Prepare applies layers in order and reports progress per layer", "[image][store]") {
  StoreFixture f;
  json lower = f.layout.AddLayer({File("etc/os-release", "base"), File("tmp/junk", "j")});
  json upper =
      f.layout.AddLayer({File("etc/os-release", "app"), File("tmp/.wh.junk")}, Compression::kGzip);
  json manifest = f.layout.AddImage({lower, upper});
  f.layout.WriteIndex({manifest});  // untagged: the layout's only manifest

  ProgressLog log;
  absl::StatusOr<PreparedImage> img = f.store.Prepare(f.Ref(), log.fn());
  REQUIRE(img.ok());
  CHECK(ReadAll(img->rootfs_dir + "/etc/os-release") == "app");
  CHECK_FALSE(fs::exists(img->rootfs_dir + "/tmp/junk"));

  uint64_t total = lower["size"].get<uint64_t>() + upper["size"].get<uint64_t>();
  REQUIRE(log.calls.size() == 2);
  CHECK(log.calls[0].layers_done == 1);
  CHECK(log.calls[0].layers_total == 2);
  CHECK(log.calls[0].bytes_done == lower["size"].get<uint64_t>());
  CHECK(log.calls[0].bytes_total == total);
  CHECK(log.calls[1].layers_done == 2);
  CHECK(log.calls[1].bytes_done == total);
}

TEST_CASE("Prepare of a cached image does no unpack work", "[image][store][cache]") {
  StoreFixture f;
  f.layout.WriteIndex({OciLayoutBuilder::Tagged(
      f.layout.AddImage({f.layout.AddLayer({File("a", "a")})}, {{"Cmd", {"sh"}}}), "latest")});
  REQUIRE(f.store.Prepare(f.Ref("latest")).ok());
  std::string rootfs = f.store.Prepare(f.Ref("latest"))->rootfs_dir;
  struct stat before {};
  REQUIRE(::stat(rootfs.c_str(), &before) == 0);

  auto prepare_without_work = [&](ImageStore& store) {
    ProgressLog log;
    absl::StatusOr<PreparedImage> again = store.Prepare(f.Ref("latest"), log.fn());
    REQUIRE(again.ok());
    CHECK(log.calls.empty());
    CHECK(again->rootfs_dir == rootfs);
    CHECK(again->config.cmd == std::vector<std::string>{"sh"});
  };
  prepare_without_work(f.store);
  ImageStore restarted(f.cache);  // a driver restart over the same cache
  prepare_without_work(restarted);
  struct stat after {};
  REQUIRE(::stat(rootfs.c_str(), &after) == 0);
  CHECK(after.st_ino == before.st_ino);
  CHECK(after.st_mtim.tv_sec == before.st_mtim.tv_sec);
  CHECK(after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);
}

TEST_CASE("Concurrent Prepare of one image unpacks it once", "[image][store][cache]") {
  StoreFixture f;
  std::vector<TarEntry> many;
  for (int i = 0; i < 200; ++i)
    many.push_back(File("f/" + std::to_string(i), std::string(512, 'x')));
  f.layout.WriteIndex({f.layout.AddImage({f.layout.AddLayer(many), f.layout.AddLayer(many)})});

  std::atomic<int> layers_applied{0};
  ImageProgressFn count = [&](const ImageProgress&) { layers_applied++; };
  constexpr int kThreads = 8;
  std::vector<absl::StatusOr<PreparedImage>> results(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] { results[i] = f.store.Prepare(f.Ref(), count); });
  }
  for (std::thread& t : threads) t.join();

  CHECK(layers_applied == 2);  // one unpack of two layers
  for (const auto& r : results) {
    REQUIRE(r.ok());
    CHECK(r->rootfs_dir == results[0]->rootfs_dir);
    CHECK(r->manifest_digest == results[0]->manifest_digest);
  }
  CHECK(fs::exists(results[0]->rootfs_dir + "/f/199"));
  CHECK(f.StagingEmpty());
}

TEST_CASE("Prepare rejects a corrupted layer and caches nothing", "[image][store][integrity]") {
  StoreFixture f;
  json good = f.layout.AddLayer({File("ok", "fine")});
  json bad = f.layout.AddLayer({File("x", "the original bytes")});
  json manifest = f.layout.AddImage({good, bad});
  f.layout.WriteIndex({OciLayoutBuilder::Tagged(manifest, "v1")});

  // Flip one byte in the second layer, keeping its size.
  std::string blob = f.layout.BlobPath(bad["digest"]);
  std::string bytes = ReadAll(blob);
  bytes[bytes.size() / 3] ^= 0x01;
  WriteAll(blob, bytes);

  ProgressLog log;
  absl::StatusOr<PreparedImage> img = f.store.Prepare(f.Ref("v1"), log.fn());
  REQUIRE_FALSE(img.ok());
  CHECK(img.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(Message(img.status()),
             Catch::Contains(bad["digest"].get<std::string>()) && Catch::Contains(f.Ref("v1")));
  CHECK(log.calls.size() == 1);  // the good layer was applied, then it stopped
  CHECK(f.CacheEntriesFor(manifest["digest"]).empty());
  CHECK(f.StagingEmpty());
}

TEST_CASE("Prepare rejects a manifest that does not match its digest",
          "[image][store][integrity]") {
  StoreFixture f;
  json manifest = f.layout.AddImage({f.layout.AddLayer({File("a", "a")})});
  f.layout.WriteIndex({manifest});
  std::string blob = f.layout.BlobPath(manifest["digest"]);
  std::string bytes = ReadAll(blob);
  bytes[bytes.size() - 2] = ' ';
  WriteAll(blob, bytes);

  absl::Status s = f.store.Prepare(f.Ref()).status();
  CHECK(s.code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(Message(s), Catch::Contains(manifest["digest"].get<std::string>()));
  CHECK(f.CacheEntriesFor(manifest["digest"]).empty());
}

TEST_CASE("Prepare names the tag and layout when the tag is unknown", "[image][store]") {
  StoreFixture f;
  json manifest = f.layout.AddImage({f.layout.AddLayer({File("a", "a")})});
  f.layout.WriteIndex(
      {OciLayoutBuilder::Tagged(manifest, "v1"), OciLayoutBuilder::Tagged(manifest, "v2")});

  absl::Status s = f.store.Prepare(f.Ref("v3")).status();
  CHECK(s.code() == absl::StatusCode::kNotFound);
  CHECK_THAT(Message(s), Catch::Contains("'v3'") && Catch::Contains(f.layout.dir()) &&
                             Catch::Contains("v1, v2"));

  // Without a tag, a layout of two manifests is ambiguous.
  CHECK(f.store.Prepare(f.Ref()).status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(f.store.Prepare(f.Ref("v2")).ok());
}

TEST_CASE("Prepare reports a missing layout as NOT_FOUND", "[image][store]") {
  StoreFixture f;
  absl::Status s = f.store.Prepare("oci:" + f.tmp.path() + "/nope:v1").status();
  CHECK(s.code() == absl::StatusCode::kNotFound);
  CHECK_THAT(Message(s), Catch::Contains("/nope"));
}

TEST_CASE("Prepare refuses layers it cannot unpack", "[image][store]") {
  StoreFixture f;
  json layer = f.layout.AddLayer({File("a", "a")});
  layer["mediaType"] = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
  json manifest = f.layout.AddImage({layer});
  f.layout.WriteIndex({manifest});

  absl::Status s = f.store.Prepare(f.Ref()).status();
  CHECK(s.code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(Message(s),
             Catch::Contains("unsupported media type") && Catch::Contains("nondistributable"));
  CHECK(f.CacheEntriesFor(manifest["digest"]).empty());
}

TEST_CASE("Prepare picks this host's platform from a multi-arch index", "[image][store]") {
  StoreFixture f;
  std::string other = std::string(HostArchitecture()) == "arm64" ? "amd64" : "arm64";
  json foreign = f.layout.AddImage({f.layout.AddLayer({File("arch", other)})});
  json native = f.layout.AddImage({f.layout.AddLayer({File("arch", HostArchitecture())})});
  json index = f.layout.AddIndex(
      {{foreign, "linux/" + other}, {native, std::string("linux/") + HostArchitecture()}});
  f.layout.WriteIndex({OciLayoutBuilder::Tagged(index, "multi")});

  absl::StatusOr<PreparedImage> img = f.store.Prepare(f.Ref("multi"));
  REQUIRE(img.ok());
  CHECK(img->manifest_digest == native["digest"]);
  CHECK(ReadAll(img->rootfs_dir + "/arch") == HostArchitecture());
}

TEST_CASE("Prepare accepts Docker schema2 manifests and zstd layers", "[image][store]") {
  StoreFixture f;
  json gz = f.layout.AddLayer({File("one", "1")}, Compression::kGzip);
  gz["mediaType"] = "application/vnd.docker.image.rootfs.diff.tar.gzip";
  json zst = f.layout.AddLayer({File("two", "2")}, Compression::kZstd);
  // Docker manifests only know gzip layers; zstd goes in an OCI one below.
  json docker = f.layout.AddImage({gz}, json::object(),
                                  "application/vnd.docker.distribution.manifest.v2+json",
                                  "application/vnd.docker.container.image.v1+json");
  json oci = f.layout.AddImage({zst});
  f.layout.WriteIndex(
      {OciLayoutBuilder::Tagged(docker, "docker"), OciLayoutBuilder::Tagged(oci, "zstd")});

  absl::StatusOr<PreparedImage> d = f.store.Prepare(f.Ref("docker"));
  REQUIRE(d.ok());
  CHECK(ReadAll(d->rootfs_dir + "/one") == "1");
  absl::StatusOr<PreparedImage> z = f.store.Prepare(f.Ref("zstd"));
  REQUIRE(z.ok());
  CHECK(ReadAll(z->rootfs_dir + "/two") == "2");
}

TEST_CASE("CleanStaging empties tmp/", "[image][store]") {
  StoreFixture f;
  fs::create_directories(f.cache + "/tmp/abc-123456/rootfs/usr");
  REQUIRE(::chmod((f.cache + "/tmp/abc-123456/rootfs").c_str(), 0555) == 0);
  WriteAll(f.cache + "/tmp/stray", "x");
  f.store.CleanStaging();
  CHECK(fs::exists(f.cache + "/tmp"));
  CHECK(f.StagingEmpty());
}

}  // namespace
}  // namespace osgv

namespace osgv {
namespace {

using namespace osgv::testing;  // NOLINT
using json = nlohmann::json;

// A one-layer image in a new layout at `dir`.
std::string BuildImage(const std::string& dir, const std::string& marker) {
  OciLayoutBuilder layout(dir);
  json manifest = layout.AddImage({layout.AddLayer({File("marker", marker)})});
  layout.WriteIndex({manifest});
  return manifest["digest"];
}

TEST_CASE("Prepare re-checks where an oci: layout really is, symlinks resolved",
          "[image][store][oci_roots]") {
  TempDir tmp;
  const std::string roots = tmp.Dir("roots");
  const std::string state = tmp.Dir("state");
  BuildImage(roots + "/good", "good");
  const std::string in_state = BuildImage(state + "/sandboxes/x/upper", "tenant-made");
  BuildImage(tmp.path() + "/elsewhere/layout", "elsewhere");
  REQUIRE(::symlink((state + "/sandboxes/x/upper").c_str(), (roots + "/to-state").c_str()) == 0);
  REQUIRE(::symlink((tmp.path() + "/elsewhere/layout").c_str(), (roots + "/to-else").c_str()) ==
          0);
  REQUIRE(::symlink((tmp.path() + "/elsewhere").c_str(), (roots + "/dir-link").c_str()) == 0);
  OciLayoutPolicy policy{{roots}, {state}};
  ImageStore store(tmp.path() + "/cache", nullptr, policy);

  CHECK(store.Prepare("oci:" + roots + "/good").ok());

  absl::Status to_state = store.Prepare("oci:" + roots + "/to-state").status();
  CHECK(to_state.code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(Message(to_state), Catch::Contains("resolves to " + state + "/sandboxes/x/upper") &&
                                    Catch::Contains("inside the driver's own state"));
  CHECK_FALSE(fs::exists(tmp.path() + "/cache/rootfs/" + in_state.substr(7)));

  for (const std::string& ref : {"oci:" + roots + "/to-else", "oci:" + roots + "/dir-link/layout"}) {
    absl::Status outside = store.Prepare(ref).status();
    CAPTURE(ref);
    CHECK(outside.code() == absl::StatusCode::kFailedPrecondition);
    CHECK_THAT(Message(outside), Catch::Contains("not under any directory in images.oci_roots"));
  }

  // The operator's own `images pull` passes no policy and follows the link.
  ImageStore local(tmp.path() + "/cache");
  CHECK(local.Prepare("oci:" + roots + "/to-else").ok());
}

TEST_CASE("Prepare follows no symlink inside a layout", "[image][store][security]") {
  StoreFixture f;
  json layer = f.layout.AddLayer({File("a", "a")});
  json manifest = f.layout.AddImage({layer});
  f.layout.WriteIndex({manifest});
  const std::string outside = f.tmp.Dir("outside");

  SECTION("a symlinked blob") {
    std::string blob = f.layout.BlobPath(layer["digest"]);
    fs::rename(blob, outside + "/blob");
    REQUIRE(::symlink((outside + "/blob").c_str(), blob.c_str()) == 0);
    absl::Status s = f.store.Prepare(f.Ref()).status();
    CHECK(s.code() == absl::StatusCode::kFailedPrecondition);
    CHECK_THAT(Message(s), Catch::Contains("is a symlink"));
  }
  SECTION("a symlinked blobs/ directory") {
    fs::rename(f.layout.dir() + "/blobs", outside + "/blobs");
    REQUIRE(::symlink((outside + "/blobs").c_str(), (f.layout.dir() + "/blobs").c_str()) == 0);
    absl::Status s = f.store.Prepare(f.Ref()).status();
    CHECK(s.code() == absl::StatusCode::kFailedPrecondition);
    CHECK_THAT(Message(s), Catch::Contains("blobs/sha256 is not a directory"));
  }
  SECTION("a symlinked index.json") {
    fs::rename(f.layout.dir() + "/index.json", outside + "/index.json");
    REQUIRE(::symlink((outside + "/index.json").c_str(),
                      (f.layout.dir() + "/index.json").c_str()) == 0);
    absl::Status s = f.store.Prepare(f.Ref()).status();
    CHECK(s.code() == absl::StatusCode::kFailedPrecondition);
    CHECK_THAT(Message(s), Catch::Contains("is a symlink"));
  }
  CHECK(f.CacheEntriesFor(manifest["digest"]).empty());
}

}  // namespace
}  // namespace osgv
