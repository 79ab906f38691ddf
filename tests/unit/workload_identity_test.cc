// Who a sandbox's workload runs as (bundle/workload_identity.h): the image's
// USER, or the v0.1.x/Ryno gateway's selectors resolved in the image.
#include "lifecycle/bundle/workload_identity.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <string>

#include "unit/temp_dir.h"

namespace osgv {
namespace {

using testing::TempDir;

// An image root with a "sandbox" account (uid 1000, gid 1000, also in
// group "docker" 998).
std::string ImageRoot(const TempDir& tmp) {
  const std::string root = tmp.Dir("rootfs");
  tmp.Dir("rootfs/etc");
  std::ofstream(root + "/etc/passwd") << "root:x:0:0:root:/root:/bin/sh\n"
                                         "sandbox:x:1000:1000::/sandbox:/bin/sh\n";
  std::ofstream(root + "/etc/group") << "root:x:0:\nsandbox:x:1000:\ndocker:x:998:sandbox\n";
  return root;
}

SandboxSpec Spec(const std::string& user, const std::string& group) {
  SandboxSpec spec;
  spec.generation = GatewayGeneration::kV01;
  spec.workload_user = user;
  spec.workload_group = group;
  return spec;
}

TEST_CASE("WorkloadUserSpec: selectors replace the image's user and group", "[workload_identity]") {
  CHECK(WorkloadUserSpec(Spec("", ""), "app:staff") == "app:staff");  // every pin-era sandbox
  CHECK(WorkloadUserSpec(Spec("sandbox", ""), "app:staff") == "sandbox");
  CHECK(WorkloadUserSpec(Spec("1001", "sandbox"), "app") == "1001:sandbox");
  CHECK(WorkloadUserSpec(Spec("", "1002"), "app:staff") == "app:1002");
  CHECK(WorkloadUserSpec(Spec("", "1002"), "") == "0:1002");
}

TEST_CASE("ResolveWorkloadUser: \"sandbox\" from the image's own files", "[workload_identity]") {
  TempDir tmp;
  const std::string root = ImageRoot(tmp);
  auto named = ResolveWorkloadUser(Spec("sandbox", ""), "", root);
  REQUIRE(named.ok());
  CHECK(named->uid == 1000);
  CHECK(named->gid == 1000);
  CHECK(named->additional_gids == std::vector<uint32_t>{998});

  auto numeric = ResolveWorkloadUser(Spec("4242", "sandbox"), "root", root);
  REQUIRE(numeric.ok());
  CHECK(numeric->uid == 4242);
  CHECK(numeric->gid == 1000);

  auto image_default = ResolveWorkloadUser(Spec("", ""), "sandbox", root);
  REQUIRE(image_default.ok());
  CHECK(image_default->uid == 1000);
}

TEST_CASE("ResolveWorkloadUser: an image without the account fails, naming the selector",
          "[workload_identity]") {
  TempDir tmp;
  const std::string root = tmp.Dir("bare");
  auto user = ResolveWorkloadUser(Spec("sandbox", ""), "", root);
  REQUIRE_FALSE(user.ok());
  CHECK(user.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(user.status().message()),
             Catch::StartsWith("sandbox.spec.workload_identity.user: image user 'sandbox': no user"));
  auto group = ResolveWorkloadUser(Spec("1000", "sandbox"), "", root);
  REQUIRE_FALSE(group.ok());
  CHECK_THAT(std::string(group.status().message()),
             Catch::StartsWith("sandbox.spec.workload_identity.group:"));
  // The image's own USER missing is the image's error, as before.
  auto image = ResolveWorkloadUser(Spec("", ""), "app", root);
  REQUIRE_FALSE(image.ok());
  CHECK_THAT(std::string(image.status().message()), Catch::StartsWith("image user 'app'"));
}

}  // namespace
}  // namespace osgv
