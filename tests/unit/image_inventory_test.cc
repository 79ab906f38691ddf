#include "lifecycle/image/image_inventory.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "unit/image_test_support.h"

namespace osgv {
namespace {

using namespace osgv::testing;  // NOLINT: fixture builders read as a DSL
using json = nlohmann::json;
namespace fs = std::filesystem;

// A blob store with two images sharing a base layer, both unpacked.
struct StoreWithTwoImages {
  TempDir tmp;
  std::string cache = tmp.Dir("cache");
  OciLayoutBuilder layout{cache + "/blobs-layout"};
  json base = layout.AddLayer({File("base", "shared")});
  json only_a = layout.AddLayer({File("a", "a")});
  json only_b = layout.AddLayer({File("b", "b")});
  std::string a = layout.AddImage({base, only_a})["digest"];
  std::string b = layout.AddImage({base, only_b}, {{"Cmd", {"b"}}})["digest"];

  StoreWithTwoImages() {
    json ma = json::parse(ReadAll(layout.BlobPath(a)));
    json mb = json::parse(ReadAll(layout.BlobPath(b)));
    layout.WriteIndex({OciLayoutBuilder::Tagged(Desc(a), "r.io/a:1"),
                       OciLayoutBuilder::Tagged(Desc(b), "r.io/b:1")});
    for (const std::string& d : {a, b}) {
      fs::create_directories(Rootfs(d));
      WriteAll(Rootfs(d) + ".json", "{}");
    }
  }
  json Desc(const std::string& digest) const {
    return {{"mediaType", media::kManifest},
            {"digest", digest},
            {"size", fs::file_size(layout.BlobPath(digest))}};
  }
  std::string Rootfs(const std::string& digest) const {
    return cache + "/rootfs/" + digest.substr(7);
  }
  bool HasBlob(const json& d) const { return fs::exists(layout.BlobPath(d["digest"])); }
  bool HasBlob(const std::string& d) const { return fs::exists(layout.BlobPath(d)); }
};

TEST_CASE("ListStoredImages shows names digests sizes and unpacked trees", "[image][inventory]") {
  StoreWithTwoImages s;
  fs::create_directories(s.cache + "/rootfs/" + std::string(64, 'c'));  // from an oci: layout
  auto rows = ListStoredImages(s.cache);
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 3);
  int named = 0;
  for (const StoredImage& row : *rows) {
    CHECK(row.unpacked);
    if (row.digest == s.a) {
      CHECK(row.references == std::vector<std::string>{"r.io/a:1"});
      CHECK(row.size_bytes > s.base["size"].get<uint64_t>() + s.only_a["size"].get<uint64_t>());
      CHECK(row.last_used_ms > 0);
      named++;
    } else if (row.digest == s.b) {
      named++;
    } else {
      CHECK(row.references.empty());
    }
  }
  CHECK(named == 2);
}

TEST_CASE("gc never removes an image a sandbox uses and keeps its shared layers",
          "[image][inventory]") {
  StoreWithTwoImages s;
  GcOptions o;
  o.digests_in_use = {s.a};
  auto result = CollectGarbage(s.cache, o);
  REQUIRE(result.ok());
  CHECK(result->removed_digests == std::vector<std::string>{s.b});
  CHECK(fs::exists(s.Rootfs(s.a)));
  CHECK_FALSE(fs::exists(s.Rootfs(s.b)));
  CHECK_FALSE(fs::exists(s.Rootfs(s.b) + ".json"));
  CHECK(s.HasBlob(s.a));
  CHECK(s.HasBlob(s.base));
  CHECK(s.HasBlob(s.only_a));
  CHECK_FALSE(s.HasBlob(s.only_b));
  CHECK_FALSE(s.HasBlob(s.b));
  CHECK(result->blobs_removed == 3);  // b's manifest, config and own layer

  auto rows = ListStoredImages(s.cache);
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 1);
  CHECK(rows->front().references == std::vector<std::string>{"r.io/a:1"});
}

TEST_CASE("gc keeps recently used images within the grace period", "[image][inventory]") {
  StoreWithTwoImages s;
  GcOptions o;
  o.grace = std::chrono::minutes(10);
  o.now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  auto kept = CollectGarbage(s.cache, o);
  REQUIRE(kept.ok());
  CHECK(kept->removed_digests.empty());
  CHECK(s.HasBlob(s.only_b));

  o.now_ms += std::chrono::milliseconds(std::chrono::minutes(11)).count();
  auto removed = CollectGarbage(s.cache, o);
  REQUIRE(removed.ok());
  CHECK(removed->removed_digests.size() == 2);
  CHECK_FALSE(s.HasBlob(s.base));
}

TEST_CASE("rm refuses an image in use and removes one that is not", "[image][inventory]") {
  StoreWithTwoImages s;
  absl::Status in_use = RemoveStoredImage(s.cache, "r.io/a:1", {s.a}).status();
  CHECK(in_use.code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(in_use.message()), Catch::Contains("r.io/a:1") &&
                                                Catch::Contains("used by a sandbox"));
  CHECK(fs::exists(s.Rootfs(s.a)));

  CHECK(RemoveStoredImage(s.cache, "r.io/nope:1", {}).status().code() ==
        absl::StatusCode::kNotFound);

  auto removed = RemoveStoredImage(s.cache, "r.io/b:1", {s.a});
  REQUIRE(removed.ok());
  CHECK(removed->removed_digests == std::vector<std::string>{s.b});
  CHECK_FALSE(fs::exists(s.Rootfs(s.b)));
  CHECK(s.HasBlob(s.base));
  CHECK_FALSE(s.HasBlob(s.only_b));
}

}  // namespace
}  // namespace osgv
