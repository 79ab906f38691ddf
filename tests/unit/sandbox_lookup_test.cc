// Finding a sandbox by name: a name two workspaces share names no sandbox
// in particular, for the gRPC calls and for exec alike (record_lookup.h).
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "lifecycle/store/record_lookup.h"
#include "unit/manager_fixture.h"

namespace osgv {
namespace {

using namespace osgv::testing;  // NOLINT: fixture builders read as a DSL
using Fixture = ManagerFixture;

TEST_CASE("Lookup: a name shared by two workspaces is ambiguous for every call",
          "[manager][lookup]") {
  Fixture f;
  REQUIRE(f.M().Create(f.Req("sb-dev", "alpha", "dev")).ok());
  REQUIRE(f.M().Create(f.Req("sb-prod", "alpha", "prod")).ok());
  REQUIRE(f.WaitPhase("sb-dev", phase::kRunning));
  REQUIRE(f.WaitPhase("sb-prod", phase::kRunning));

  auto ambiguous = [](const absl::Status& st) {
    CHECK(absl::IsFailedPrecondition(st));
    CHECK_THAT(Msg(st), Catch::StartsWith("sandbox_name: 'alpha'") &&
                            Catch::Contains("sb-dev (workspace dev)") &&
                            Catch::Contains("sb-prod (workspace prod)"));
  };
  ambiguous(f.M().Get("", "alpha").status());
  ambiguous(f.M().Stop("", "alpha"));
  ambiguous(f.M().Start("", "alpha"));
  ambiguous(f.M().Delete("", "alpha").status());
  // Nothing was touched, and each id still names its own.
  CHECK(f.Phase("sb-dev") == phase::kRunning);
  CHECK(f.Phase("sb-prod") == phase::kRunning);
  CHECK(f.runner.CountOf("checkpoint") == 0);
  CHECK(f.M().Get("sb-prod", "alpha")->workspace == "prod");

  // exec's lookup (an id or a name) says the same.
  auto found = f.M().Find("alpha");
  ambiguous(found.status());
  REQUIRE(f.M().Find("sb-dev").ok());

  // Once the name is unique again, it names that sandbox.
  REQUIRE(f.M().Delete("sb-dev", "").ok());
  auto left = f.M().Get("", "alpha");
  REQUIRE(left.ok());
  CHECK(left->id == "sb-prod");
}

TEST_CASE("Lookup: an id names only its own sandbox, whatever the name says",
          "[manager][lookup]") {
  SandboxRecord a, b;
  a.id = "a";
  a.name = "b";
  b.id = "b";
  b.name = "x";
  std::vector<const SandboxRecord*> records = {&a, &b};
  CHECK(*LookupSandbox(records, "b", "") == 1);
  CHECK(*LookupSandbox(records, "", "b") == 0);
  CHECK(absl::IsNotFound(LookupSandbox(records, "zzz", "b").status()));
  // exec's key is an id first, then a name.
  CHECK(FindRecord({a, b}, "b")->id == "b");
  CHECK(FindRecord({a, b}, "x")->id == "b");
  CHECK(absl::IsNotFound(FindRecord({a, b}, "nope").status()));
}

}  // namespace
}  // namespace osgv
