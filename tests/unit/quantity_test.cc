#include "capabilities/quantity.h"

#include <catch2/catch.hpp>
#include <string>

namespace osgv {
namespace {

// __int128 has no stream operator for Catch to print; compare as text.
std::string ToString(__int128 value) {
  if (value == 0) return "0";
  bool negative = value < 0;
  unsigned __int128 magnitude = negative ? -static_cast<unsigned __int128>(value)
                                         : static_cast<unsigned __int128>(value);
  std::string digits;
  for (; magnitude > 0; magnitude /= 10) {
    digits.insert(digits.begin(), static_cast<char>('0' + magnitude % 10));
  }
  return negative ? "-" + digits : digits;
}

TEST_CASE("ParseQuantityMillis accepts the Kubernetes grammar", "[quantity]") {
  struct Case {
    std::string text;
    std::string millis;
  };
  const Case cases[] = {
      {"0", "0"},
      {"1", "1000"},
      {"2", "2000"},
      {"500m", "500"},
      {"+500m", "500"},
      {"-500m", "-500"},
      {"0.5", "500"},
      {".5", "500"},
      {"5.", "5000"},
      {"1.5", "1500"},
      {"0.0001", "1"},          // rounded up to one milli-unit
      {"1n", "1"},              // rounded up
      {"1000000n", "1"},        // exactly 1m
      {"1500000n", "2"},        // 1.5m rounded up
      {"1u", "1"},
      {"3000u", "3"},
      {"1k", "1000000"},
      {"1M", "1000000000"},
      {"1G", "1000000000000"},
      {"1T", "1000000000000000"},
      {"1P", "1000000000000000000"},
      {"1E", "1000000000000000000000"},
      {"1Ki", "1024000"},
      {"1Mi", "1048576000"},
      {"512Mi", "536870912000"},
      {"1.5Gi", "1610612736000"},
      {"1Ti", "1099511627776000"},
      {"1Pi", "1125899906842624000"},
      {"1Ei", "1152921504606846976000"},
      {"0.5Ki", "512000"},
      {"1e3", "1000000"},
      {"1E3", "1000000"},
      {"1.5e2", "150000"},
      {"1e+3", "1000000"},
      {"1e-3", "1"},
      {"25e-4", "3"},           // 2.5m rounded up
      {"00012", "12000"},
      {"128974848", "128974848000"},
      {"9223372036854775807", "9223372036854775807000"},  // int64 max units
      {"1e-100", "1"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    absl::StatusOr<__int128> millis = ParseQuantityMillis(c.text);
    REQUIRE(millis.ok());
    CHECK(ToString(*millis) == c.millis);
  }
}

TEST_CASE("ParseQuantityMillis rejects malformed text", "[quantity]") {
  struct Case {
    std::string text;
    std::string message_part;
  };
  const Case cases[] = {
      {"", "(empty"},
      {" 1", "contains whitespace"},
      {"1 ", "contains whitespace"},
      {"1\t", "contains whitespace"},
      {"1.2.3", "more than one '.'"},
      {"Mi", "no digits"},
      {".", "no digits"},
      {"-", "no digits"},
      {"+-1", "no digits"},
      {"inf", "no digits"},
      {"NaN", "no digits"},
      {"5mi", "unknown suffix 'mi'"},
      {"1KB", "unknown suffix 'KB'"},
      {"1K", "unknown suffix 'K'"},
      {"0x10", "unknown suffix 'x10'"},
      {"1e", "unknown suffix 'e'"},
      {"1e3.5", "unknown suffix 'e3.5'"},
      {"1e+", "unknown suffix 'e+'"},
      {"1Ki5", "unknown suffix 'Ki5'"},
      {"1mm", "unknown suffix 'mm'"},
      {"1e101", "exponent out of range"},
      {"1e-1000000000", "exponent out of range"},
      {"10Ei", "too large"},
      {"9223372036854775808", "too large"},
      {"1e19", "too large"},
      {"99999999999999999999999999999999999999999999", "too large"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    absl::StatusOr<__int128> millis = ParseQuantityMillis(c.text);
    REQUIRE_FALSE(millis.ok());
    CHECK(millis.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(millis.status().message()),
               Catch::Contains(c.message_part));
  }
}

TEST_CASE("quantity errors quote the text safely", "[quantity]") {
  absl::StatusOr<__int128> nul = ParseQuantityMillis(std::string("1\0x", 3));
  REQUIRE_FALSE(nul.ok());
  CHECK_THAT(std::string(nul.status().message()),
             Catch::Contains("not a quantity: '1\\000x'"));

  absl::StatusOr<__int128> huge = ParseQuantityMillis(std::string(10000, 'x'));
  REQUIRE_FALSE(huge.ok());
  CHECK(huge.status().message().size() < 500);
  CHECK_THAT(std::string(huge.status().message()),
             Catch::Contains("(10000 bytes)"));
}

TEST_CASE("ParseCpuMillis", "[quantity]") {
  struct Good {
    std::string text;
    uint64_t millis;
  };
  const Good good[] = {
      {"500m", 500}, {"1", 1000},     {"2", 2000},   {"0.5", 500},
      {"0.0001", 1}, {"1.0005", 1001}, {"250000u", 250}, {"1k", 1000000},
  };
  for (const Good& c : good) {
    CAPTURE(c.text);
    absl::StatusOr<uint64_t> millis = ParseCpuMillis(c.text);
    REQUIRE(millis.ok());
    CHECK(*millis == c.millis);
  }

  struct Bad {
    std::string text;
    std::string message_part;
  };
  const Bad bad[] = {
      {"0", "must be greater than zero"},
      {"0m", "must be greater than zero"},
      {"-1", "must be greater than zero"},
      {"abc", "not a quantity: 'abc'"},
      {"10000000000000000", "too large"},  // 1e19 millicores: not int64
  };
  for (const Bad& c : bad) {
    CAPTURE(c.text);
    absl::StatusOr<uint64_t> millis = ParseCpuMillis(c.text);
    REQUIRE_FALSE(millis.ok());
    CHECK(millis.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(millis.status().message()),
               Catch::Contains(c.message_part));
  }
}

TEST_CASE("ParseMemoryBytes", "[quantity]") {
  struct Good {
    std::string text;
    uint64_t bytes;
  };
  const Good good[] = {
      {"1", 1},
      {"1.5", 2},  // fractional bytes round up
      {"500m", 1},
      {"1n", 1},
      {"1Ki", 1024},
      {"512Mi", 536870912},
      {"1Gi", 1073741824},
      {"1G", 1000000000},
      {"128974848", 128974848},
      {"129e6", 129000000},
      {"1Ei", 1152921504606846976ULL},
      {"9223372036854775807", 9223372036854775807ULL},
  };
  for (const Good& c : good) {
    CAPTURE(c.text);
    absl::StatusOr<uint64_t> bytes = ParseMemoryBytes(c.text);
    REQUIRE(bytes.ok());
    CHECK(*bytes == c.bytes);
  }

  struct Bad {
    std::string text;
    std::string message_part;
  };
  const Bad bad[] = {
      {"0", "must be greater than zero"},
      {"-1Gi", "must be greater than zero"},
      {"1GB", "unknown suffix 'GB'"},
      {"8Ei", "too large"},
      {"", "empty"},
  };
  for (const Bad& c : bad) {
    CAPTURE(c.text);
    absl::StatusOr<uint64_t> bytes = ParseMemoryBytes(c.text);
    REQUIRE_FALSE(bytes.ok());
    CHECK(bytes.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(bytes.status().message()),
               Catch::Contains(c.message_part));
  }
}

TEST_CASE("QuoteForMessage escapes and bounds", "[quantity]") {
  CHECK(QuoteForMessage("abc") == "'abc'");
  CHECK(QuoteForMessage("abc", '"') == "\"abc\"");
  CHECK(QuoteForMessage("it's") == "'it\\'s'");
  CHECK(QuoteForMessage("a\nb") == "'a\\nb'");
  const std::string long_text(100, 'a');
  CHECK(QuoteForMessage(long_text) ==
        "'" + std::string(64, 'a') + "'... (100 bytes)");
}

}  // namespace
}  // namespace osgv
