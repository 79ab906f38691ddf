#include "lifecycle/checkpoint/image_file_hash.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <random>
#include <string>

#include "lifecycle/checkpoint/checkpoint_image.h"
#include "lifecycle/image/digest.h"
#include "unit/temp_dir.h"

namespace osgv {
namespace {

// `size` bytes that differ from chunk to chunk, so a chunk hashed twice,
// skipped or out of order changes the digest.
std::string WriteRandomFile(const std::string& path, size_t size, unsigned seed) {
  std::mt19937 rng(seed);
  std::string data(size, '\0');
  for (auto& c : data) c = static_cast<char>(rng());
  std::ofstream(path, std::ios::binary) << data;
  return path;
}

TEST_CASE("Sha256FileDirect hashes the same bytes as Sha256File", "[checkpoint][hash]") {
  testing::TempDir tmp;
  constexpr size_t kMiB = 1 << 20;
  // Empty, sub-block, block-aligned, one read chunk, just past it, and more
  // chunks than the read-ahead slots with a ragged end.
  for (size_t size : {size_t{0}, size_t{1}, size_t{4095}, size_t{4096}, 4 * kMiB, 4 * kMiB + 1,
                      29 * kMiB + 12345}) {
    CAPTURE(size);
    std::string path = WriteRandomFile(tmp / "f", size, static_cast<unsigned>(size));
    auto want = Sha256File(path);
    REQUIRE(want.ok());
    auto got = Sha256FileDirect(path);
    REQUIRE(got.ok());
    CHECK(*got == *want);
    auto image = Sha256ImageFile(path);
    REQUIRE(image.ok());
    CHECK(*image == *want);
  }
}

TEST_CASE("Sha256ImageFile of a large file equals Sha256File", "[checkpoint][hash]") {
  testing::TempDir tmp;
  std::string path = WriteRandomFile(tmp / "pages.img", kDirectHashMinBytes + 4097, 7);
  auto want = Sha256File(path);
  REQUIRE(want.ok());
  auto got = Sha256ImageFile(path);
  REQUIRE(got.ok());
  CHECK(*got == *want);
}

TEST_CASE("hashing a missing image file is an error naming it", "[checkpoint][hash]") {
  testing::TempDir tmp;
  for (auto* fn : {&Sha256ImageFile, &Sha256FileDirect}) {
    auto got = (*fn)(tmp / "missing.img");
    REQUIRE_FALSE(got.ok());
    CHECK_THAT(std::string(got.status().message()), Catch::Contains("missing.img"));
  }
}

TEST_CASE("SealCheckpoint records each file's digest and VerifyCheckpoint checks them",
          "[checkpoint][seal]") {
  testing::TempDir tmp;
  std::string work = tmp.Dir("tmp-1");
  WriteRandomFile(work + "/checkpoint.img", 100000, 1);
  WriteRandomFile(work + "/pages.img", (9 << 20) + 3, 2);
  CheckpointImage image;
  image.compression = "none";
  auto sealed = SealCheckpoint(work, tmp / "image", image);
  REQUIRE(sealed.ok());
  CHECK_FALSE(std::filesystem::exists(work));
  CHECK(sealed->dir == tmp / "image");
  CHECK(sealed->bytes == 100000 + (9 << 20) + 3);
  REQUIRE(sealed->files.size() == 2);
  for (const auto& [name, digest] : sealed->files) {
    CHECK(digest == Sha256File(tmp / ("image/" + name)).value());
  }
  auto manifest = ReadManifest(tmp / "image");
  REQUIRE(manifest.ok());
  CHECK(manifest->files == sealed->files);
  CHECK(VerifyCheckpoint(*sealed).ok());

  SECTION("one changed byte is DATA_LOSS naming the file") {
    {
      std::fstream f(tmp / "image/pages.img", std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(5 << 20);
      f.put('\x5a' ^ static_cast<char>(f.peek()));
    }
    auto st = VerifyCheckpoint(*sealed);
    CHECK(st.code() == absl::StatusCode::kDataLoss);
    CHECK_THAT(std::string(st.message()), Catch::Contains("pages.img"));
  }
  SECTION("a missing file is DATA_LOSS naming it") {
    std::filesystem::remove(tmp / "image/checkpoint.img");
    auto st = VerifyCheckpoint(*sealed);
    CHECK(st.code() == absl::StatusCode::kDataLoss);
    CHECK_THAT(std::string(st.message()), Catch::Contains("checkpoint.img"));
  }
}

TEST_CASE("SealCheckpoint of an empty directory fails and publishes nothing", "[checkpoint][seal]") {
  testing::TempDir tmp;
  std::string work = tmp.Dir("tmp-1");
  auto sealed = SealCheckpoint(work, tmp / "image", CheckpointImage{});
  CHECK_FALSE(sealed.ok());
  CHECK_FALSE(std::filesystem::exists(tmp / "image"));
}

}  // namespace
}  // namespace osgv
