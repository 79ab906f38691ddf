// The runsc ids the driver makes, and the check the start-up sweep relies
// on to touch nothing else.
#include "lifecycle/runsc/runsc_id.h"

#include <catch2/catch.hpp>
#include <set>
#include <string>

#include "lifecycle/random_hex.h"

namespace osgv {
namespace {

TEST_CASE("NewRunscId makes ids IsDriverRunscId recognises, all different", "[runsc_id]") {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    auto rid = NewRunscId();
    REQUIRE(rid.ok());
    CHECK(rid->size() == 5 + 32);
    CHECK(IsDriverRunscId(*rid));
    seen.insert(*rid);
  }
  CHECK(seen.size() == 100);
}

TEST_CASE("IsDriverRunscId refuses everything but osgv- and 32 lowercase hex digits",
          "[runsc_id]") {
  const std::string hex32 = "0123456789abcdef0123456789abcdef";
  CHECK(IsDriverRunscId("osgv-" + hex32));
  CHECK_FALSE(IsDriverRunscId("osgv-" + hex32.substr(1)));        // too short
  CHECK_FALSE(IsDriverRunscId("osgv-" + hex32 + "0"));            // too long
  CHECK_FALSE(IsDriverRunscId("osgv-0123456789ABCDEF0123456789abcdef"));  // upper case
  CHECK_FALSE(IsDriverRunscId("osgv-0123456789abcdeg0123456789abcdef"));  // not hex
  CHECK_FALSE(IsDriverRunscId("OSGV-" + hex32));
  CHECK_FALSE(IsDriverRunscId("xosgv-" + hex32.substr(1)));
  CHECK_FALSE(IsDriverRunscId(".import-osgv-" + hex32));
  CHECK_FALSE(IsDriverRunscId("keep-me"));
  CHECK_FALSE(IsDriverRunscId(""));
  CHECK_FALSE(IsDriverRunscId("osgv-"));
}

TEST_CASE("RandomHex gives 2n lowercase hex digits", "[runsc_id]") {
  auto hex = RandomHex(6);
  REQUIRE(hex.ok());
  CHECK(hex->size() == 12);
  CHECK(hex->find_first_not_of("0123456789abcdef") == std::string::npos);
}

}  // namespace
}  // namespace osgv
