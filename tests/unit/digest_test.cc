#include "lifecycle/image/digest.h"

#include <catch2/catch.hpp>
#include <string>

#include "unit/image_test_support.h"

namespace osgv {
namespace {

using testing::TempDir;
using testing::WriteAll;

constexpr char kEmpty[] = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr char kAbc[] = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

TEST_CASE("Sha256String matches the FIPS 180-2 test vectors", "[image][digest]") {
  CHECK(Sha256String("") == kEmpty);
  CHECK(Sha256String("abc") == kAbc);
}

TEST_CASE("Sha256File hashes the whole file, across read buffers", "[image][digest]") {
  TempDir tmp;
  std::string path = tmp.path() + "/blob";
  WriteAll(path, "abc");
  CHECK(Sha256File(path).value() == kAbc);

  // Larger than the 1 MiB read buffer, not a multiple of it.
  std::string big((3 << 20) + 17, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 31 + 7);
  WriteAll(path, big);
  CHECK(Sha256File(path).value() == Sha256String(big));
}

TEST_CASE("Sha256File on a missing file is NOT_FOUND naming it", "[image][digest]") {
  absl::StatusOr<std::string> d = Sha256File("/nonexistent/osgv/blob");
  REQUIRE_FALSE(d.ok());
  CHECK(d.status().code() == absl::StatusCode::kNotFound);
  CHECK_THAT(std::string(d.status().message()), Catch::Contains("/nonexistent/osgv/blob"));
}

TEST_CASE("IsSha256Digest accepts only sha256:<64 lowercase hex>", "[image][digest]") {
  CHECK(IsSha256Digest(kAbc));
  CHECK_FALSE(IsSha256Digest(""));
  CHECK_FALSE(IsSha256Digest("sha256:"));
  CHECK_FALSE(IsSha256Digest(std::string(kAbc).substr(0, 70)));          // short
  CHECK_FALSE(IsSha256Digest(std::string(kAbc) + "0"));                  // long
  CHECK_FALSE(IsSha256Digest("sha512:" + std::string(kAbc).substr(7)));  // algorithm
  std::string upper = kAbc;
  upper[10] = 'A';
  CHECK_FALSE(IsSha256Digest(upper));
  CHECK_FALSE(IsSha256Digest("sha256:../../../../etc/passwd" + std::string(36, 'a')));
}

TEST_CASE("VerifyFileDigest accepts a match and names both digests on mismatch",
          "[image][digest]") {
  TempDir tmp;
  std::string path = tmp.path() + "/blob";
  WriteAll(path, "abc");
  CHECK(VerifyFileDigest(path, kAbc).ok());

  absl::Status mismatch = VerifyFileDigest(path, kEmpty);
  CHECK(mismatch.code() == absl::StatusCode::kFailedPrecondition);
  std::string msg(mismatch.message());
  CHECK_THAT(msg, Catch::Contains(kEmpty) && Catch::Contains(kAbc) && Catch::Contains(path));

  CHECK(VerifyFileDigest(path, "md5:abc").code() == absl::StatusCode::kInvalidArgument);
  CHECK(VerifyFileDigest(tmp.path() + "/missing", kAbc).code() == absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace osgv
