// ImageStore with registry references: pull policy, single flight, the
// pinned digest of a sandbox that ran before, and integrity of what the
// puller wrote. A fake puller stands in for skopeo by copying a test layout.
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "lifecycle/image/image_store.h"
#include "metrics/image_metrics.h"
#include "unit/image_test_support.h"
#include "unit/metrics_reader.h"

namespace osgv {
namespace {

using namespace osgv::testing;  // NOLINT: fixture builders read as a DSL
using json = nlohmann::json;
namespace fs = std::filesystem;

// "The registry": a layout whose tags are the references' tags. Pull
// copies blobs and the tagged entry into the store's layout under `name`.
class FakePuller : public ImagePuller {
 public:
  explicit FakePuller(const OciLayoutBuilder* registry) : registry_(registry) {}

  absl::Status Pull(const ImageReference& ref, const std::string& layout_dir,
                    const std::string& name) override {
    pulls++;
    std::this_thread::sleep_for(delay);
    if (!fail.ok()) return fail;
    json index = json::parse(ReadAll(registry_->dir() + "/index.json"));
    json entry;
    // By digest, a registry serves any manifest it still has, tagged or not.
    if (std::string blob = registry_->BlobPath(ref.digest.empty() ? "sha256:" : ref.digest);
        !ref.digest.empty() && fs::exists(blob)) {
      entry = {{"mediaType", media::kManifest}, {"digest", ref.digest}, {"size", fs::file_size(blob)}};
    }
    for (const json& e : index["manifests"]) {
      std::string tag = e["annotations"]["org.opencontainers.image.ref.name"];
      if ((!ref.digest.empty() && e["digest"] == ref.digest) ||
          (ref.digest.empty() && tag == ref.tag)) {
        entry = e;
      }
    }
    if (entry.is_null()) return absl::NotFoundError("image '" + name + "': manifest unknown");
    fs::create_directories(layout_dir + "/blobs/sha256");
    WriteAll(layout_dir + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
    for (const auto& blob : fs::directory_iterator(registry_->dir() + "/blobs/sha256")) {
      fs::copy_file(blob.path(), layout_dir + "/blobs/sha256/" + blob.path().filename().string(),
                    fs::copy_options::overwrite_existing);
    }
    json ours = {{"schemaVersion", 2}, {"manifests", json::array()}};
    if (fs::exists(layout_dir + "/index.json")) ours = json::parse(ReadAll(layout_dir + "/index.json"));
    json kept = json::array();
    for (const json& e : ours["manifests"]) {
      if (e["annotations"]["org.opencontainers.image.ref.name"] != name) kept.push_back(e);
    }
    entry["annotations"] = {{"org.opencontainers.image.ref.name", name}};
    kept.push_back(entry);
    ours["manifests"] = kept;
    WriteAll(layout_dir + "/index.json", ours.dump());
    return absl::OkStatus();
  }

  std::atomic<int> pulls{0};
  std::chrono::milliseconds delay{0};
  absl::Status fail;

 private:
  const OciLayoutBuilder* registry_;
};

struct PullFixture {
  TempDir tmp;
  OciLayoutBuilder registry{tmp.Dir("registry")};
  FakePuller puller{&registry};
  std::string cache = tmp.path() + "/cache";
  ImageStore store{cache, &puller};
  std::vector<json> tags;

  // Pushes a one-file image under `tag`; returns its manifest digest.
  std::string Push(const std::string& tag, const std::string& content) {
    json m = registry.AddImage({registry.AddLayer({File("version", content)})});
    std::vector<json> kept;
    for (const json& t : tags) {
      if (t["annotations"]["org.opencontainers.image.ref.name"] != tag) kept.push_back(t);
    }
    kept.push_back(OciLayoutBuilder::Tagged(m, tag));
    tags = kept;
    registry.WriteIndex(tags);
    return m["digest"];
  }
  absl::StatusOr<PreparedImage> Prepare(const std::string& ref, const std::string& policy,
                                        const std::string& pinned = "") {
    PrepareOptions o;
    // The tests spell it as the config does. No Catch assertion here: some
    // tests call this from several threads, and Catch2 is single-threaded.
    auto parsed = ParsePullPolicy(policy);
    if (!parsed) return absl::InvalidArgumentError("test: unknown pull policy " + policy);
    o.pull_policy = *parsed;
    o.pinned_digest = pinned;
    return store.Prepare(ref, {}, o);
  }
};

std::string VersionIn(const PreparedImage& image) { return ReadAll(image.rootfs_dir + "/version"); }

TEST_CASE("if-not-present pulls a tag once and then uses the store", "[image][pull]") {
  PullFixture f;
  std::string v1 = f.Push("1", "one");
  auto first = f.Prepare("r.io/app:1", "if-not-present");
  REQUIRE(first.ok());
  CHECK(first->manifest_digest == v1);
  CHECK(VersionIn(*first) == "one");
  CHECK(f.puller.pulls == 1);

  f.Push("1", "moved");  // the tag moves in the registry
  auto second = f.Prepare("r.io/app:1", "if-not-present");
  REQUIRE(second.ok());
  CHECK(f.puller.pulls == 1);
  CHECK(second->manifest_digest == v1);

  // Another store over the same directory (a driver restart) needs no pull.
  FakePuller other(&f.registry);
  ImageStore restarted(f.cache, &other);
  REQUIRE(restarted.Prepare("r.io/app:1").ok());
  CHECK(other.pulls == 0);
}

TEST_CASE("always asks the registry again and follows a moved tag", "[image][pull]") {
  PullFixture f;
  f.Push("1", "one");
  REQUIRE(f.Prepare("r.io/app:1", "always").ok());
  std::string v2 = f.Push("1", "two");
  auto again = f.Prepare("r.io/app:1", "always");
  REQUIRE(again.ok());
  CHECK(f.puller.pulls == 2);
  CHECK(again->manifest_digest == v2);
  CHECK(VersionIn(*again) == "two");
}

TEST_CASE("never fails for an image not in the store and pulls nothing", "[image][pull]") {
  PullFixture f;
  f.Push("1", "one");
  absl::Status s = f.Prepare("r.io/app:1", "never").status();
  CHECK(s.code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(s.message()),
             Catch::StartsWith("image 'r.io/app:1': not in the image store") &&
                 Catch::Contains("pull policy is never"));
  CHECK(f.puller.pulls == 0);
  REQUIRE(f.Prepare("r.io/app:1", "if-not-present").ok());
  CHECK(f.Prepare("r.io/app:1", "never").ok());
  CHECK(f.puller.pulls == 1);
}

TEST_CASE("a digest reference in the store is never pulled again", "[image][pull]") {
  PullFixture f;
  std::string v1 = f.Push("1", "one");
  REQUIRE(f.Prepare("r.io/app@" + v1, "always").ok());
  REQUIRE(f.Prepare("r.io/app@" + v1, "always").ok());
  CHECK(f.puller.pulls == 1);
}

TEST_CASE("concurrent prepares of one reference pull and unpack once", "[image][pull]") {
  PullFixture f;
  f.Push("1", "one");
  f.puller.delay = std::chrono::milliseconds(500);
  for (const std::string policy : {"if-not-present", "always"}) {
    INFO(policy);
    f.puller.pulls = 0;
    fs::remove_all(f.cache);
    std::vector<absl::StatusOr<PreparedImage>> results(6);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < results.size(); ++i) {
      threads.emplace_back([&, i] { results[i] = f.Prepare("r.io/app:1", policy); });
    }
    for (auto& t : threads) t.join();
    CHECK(f.puller.pulls == 1);
    for (const auto& r : results) {
      REQUIRE(r.ok());
      CHECK(r->rootfs_dir == results[0]->rootfs_dir);
    }
  }
}

TEST_CASE("a failed pull is reported and the next prepare tries again", "[image][pull]") {
  PullFixture f;
  f.Push("1", "one");
  f.puller.fail = absl::UnavailableError("image 'r.io/app:1': the registry is unreachable");
  absl::Status s = f.Prepare("r.io/app:1", "if-not-present").status();
  CHECK(s.code() == absl::StatusCode::kUnavailable);
  const bool cached_something = fs::exists(f.cache + "/rootfs") && !fs::is_empty(f.cache + "/rootfs");
  CHECK_FALSE(cached_something);
  f.puller.fail = absl::OkStatus();
  CHECK(f.Prepare("r.io/app:1", "if-not-present").ok());
  CHECK(f.puller.pulls == 2);
}

TEST_CASE("a tampered blob from the puller is rejected and nothing is cached", "[image][pull]") {
  PullFixture f;
  json layer = f.registry.AddLayer({File("version", "the original")});
  json m = f.registry.AddImage({layer});
  f.registry.WriteIndex({OciLayoutBuilder::Tagged(m, "1")});
  std::string blob = f.registry.BlobPath(layer["digest"]);
  std::string bytes = ReadAll(blob);
  bytes[bytes.size() / 2] ^= 0x20;
  WriteAll(blob, bytes);

  absl::Status s = f.Prepare("r.io/app:1", "if-not-present").status();
  CHECK(s.code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(s.message()), Catch::StartsWith("image 'r.io/app:1'") &&
                                           Catch::Contains(layer["digest"].get<std::string>()));
  std::error_code ec;
  CHECK(!fs::exists(f.cache + "/rootfs/" + m["digest"].get<std::string>().substr(7), ec));
}

TEST_CASE("a pinned digest keeps a sandbox on the image it ran on", "[image][pull]") {
  PullFixture f;
  std::string v1 = f.Push("1", "one");
  REQUIRE(f.Prepare("r.io/app:1", "always").ok());
  f.Push("1", "two");  // the tag moves

  // Cached: straight from the rootfs cache, no pull even with always.
  auto cached = f.Prepare("r.io/app:1", "always", v1);
  REQUIRE(cached.ok());
  CHECK(cached->manifest_digest == v1);
  CHECK(VersionIn(*cached) == "one");
  CHECK(f.puller.pulls == 1);

  // Not cached any more (gc): fetched again by that digest, not the tag.
  fs::remove_all(f.cache);
  auto refetched = f.Prepare("r.io/app:1", "if-not-present", v1);
  REQUIRE(refetched.ok());
  CHECK(refetched->manifest_digest == v1);
  CHECK(VersionIn(*refetched) == "one");
  CHECK(f.puller.pulls == 2);
}

TEST_CASE("the image metrics count pulls, pulled bytes and cache hits", "[image][pull][metrics]") {
  PullFixture f;
  prometheus::Registry registry;
  ImageMetrics metrics(registry);
  f.store.SetObserver(&metrics);
  auto value = [&](const std::string& name, const LabelMap& labels = {}) {
    return SampleValue(registry, name, labels).value_or(-1);
  };
  CHECK(value("osgv_image_pulls_total", {{"outcome", "ok"}}) == 0);  // there before any pull

  std::string v1 = f.Push("1", "one");
  REQUIRE(f.Prepare("r.io/app:1", "if-not-present").ok());
  CHECK(value("osgv_image_pulls_total", {{"outcome", "ok"}}) == 1);
  CHECK(value("osgv_image_cache_hits_total") == 0);
  // The layer's compressed size, as the manifest gives it.
  json manifest = json::parse(ReadAll(f.registry.BlobPath(v1)));
  CHECK(value("osgv_image_pull_bytes_total") == manifest["layers"][0]["size"].get<double>());

  REQUIRE(f.Prepare("r.io/app:1", "if-not-present").ok());  // from the store
  REQUIRE(f.Prepare("r.io/app:1", "always", v1).ok());      // pinned, rootfs cached
  CHECK(value("osgv_image_cache_hits_total") == 2);
  CHECK(value("osgv_image_pulls_total", {{"outcome", "ok"}}) == 1);

  f.puller.fail = absl::UnavailableError("image 'r.io/app:2': the registry is unreachable");
  CHECK_FALSE(f.Prepare("r.io/app:2", "if-not-present").ok());
  CHECK(value("osgv_image_pulls_total", {{"outcome", "error"}}) == 1);
  CHECK(value("osgv_image_pull_bytes_total") == manifest["layers"][0]["size"].get<double>());
}

TEST_CASE("registry references need a puller", "[image][pull]") {
  TempDir tmp;
  ImageStore store(tmp.path() + "/cache");
  absl::Status s = store.Prepare("r.io/app:1").status();
  CHECK(s.code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(s.message()), Catch::Contains("'r.io/app:1'"));
}

}  // namespace
}  // namespace osgv
