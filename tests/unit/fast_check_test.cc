// FastCheck: the known CRC-32C answer, agreement with a byte-at-a-time
// reference of the lane scheme (so the crc32-instruction path is checked
// against code that shares nothing with it), and chunking.
#include "lifecycle/checkpoint/fast_check.h"

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>

#include "lifecycle/checkpoint/checkpoint_image.h"
#include "unit/temp_dir.h"

namespace osgv {
namespace {

uint32_t RefCrc32c(const std::string& bytes) {
  uint32_t crc = 0xffffffffu;
  for (unsigned char b : bytes) {
    crc ^= b;
    for (int k = 0; k < 8; ++k) crc = (crc & 1) ? (crc >> 1) ^ 0x82f63b78u : crc >> 1;
  }
  return ~crc;
}

// fast_check.h's definition, spelled out: 8-byte word i to lane i mod 3,
// the bytes after the last whole 24-byte block to lane 0.
std::string Reference(const std::string& data) {
  std::string lanes[3];
  size_t whole = data.size() / 24 * 24;
  for (size_t i = 0; i < whole; i += 8) lanes[(i / 8) % 3] += data.substr(i, 8);
  lanes[0] += data.substr(whole);
  char hex[32];
  std::snprintf(hex, sizeof(hex), "%08x%08x%08x", RefCrc32c(lanes[0]), RefCrc32c(lanes[1]),
                RefCrc32c(lanes[2]));
  return std::string("crc32c3:") + hex;
}

std::string Random(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

TEST_CASE("FastCheck of a short input is the CRC-32C check value in lane 0", "[checkpoint][hash]") {
  // CRC-32C("123456789") = 0xe3069283; the empty lanes are CRCs of nothing.
  CHECK(FastCheckString("123456789") == "crc32c3:e30692830000000000000000");
}

TEST_CASE("FastCheck agrees with the byte-at-a-time reference at every size and split",
          "[checkpoint][hash]") {
  for (size_t size : {size_t{0}, size_t{7}, size_t{24}, size_t{25}, size_t{1000}, size_t{65541}}) {
    CAPTURE(size);
    std::string data = Random(size, static_cast<unsigned>(size) + 1);
    CHECK(FastCheckString(data) == Reference(data));
    for (size_t split : {size_t{1}, size_t{5}, size_t{23}, size_t{4096}}) {
      FastCheck pieces;
      for (size_t at = 0; at < size; at += split) pieces.Update(data.data() + at, std::min(split, size - at));
      CHECK(pieces.Finish() == Reference(data));
    }
  }
}

TEST_CASE("FastCheck changes with any one flipped bit", "[checkpoint][hash]") {
  std::string data = Random(4096 + 13, 3);
  const std::string good = FastCheckString(data);
  for (size_t at : {size_t{0}, size_t{8}, size_t{16}, size_t{2049}, data.size() - 1}) {
    std::string bad = data;
    bad[at] ^= 0x10;
    CHECK(FastCheckString(bad) != good);
  }
}

TEST_CASE("A sealed image records FastChecks; Start's verification uses them, or SHA-256 without",
          "[checkpoint][hash]") {
  testing::TempDir tmp;
  std::string staging = tmp.Dir("tmp-x");
  std::string pages = Random(100000, 9);
  std::ofstream(staging + "/pages.img", std::ios::binary) << pages;
  auto image = SealCheckpoint(staging, tmp / "image", CheckpointImage{});
  REQUIRE(image.ok());
  CHECK(image->fast_checks.at("pages.img") == FastCheckString(pages));
  auto round = CheckpointFromJson(CheckpointToJson(*image));
  REQUIRE(round.ok());
  CHECK(round->fast_checks == image->fast_checks);
  auto manifest = ReadManifest(tmp / "image");
  REQUIRE(manifest.ok());
  CHECK(manifest->fast_checks == image->fast_checks);
  CHECK(VerifyCheckpoint(*image).ok());

  CheckpointImage older = *image;  // a record from before FastCheck
  older.fast_checks.clear();
  CHECK(VerifyCheckpoint(older).ok());
  pages[5000] ^= 1;
  std::ofstream(tmp / "image/pages.img", std::ios::binary) << pages;
  CHECK(absl::IsDataLoss(VerifyCheckpoint(*image)));
  CHECK(absl::IsDataLoss(VerifyCheckpoint(older)));
}

}  // namespace
}  // namespace osgv
