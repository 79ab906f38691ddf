#include "lifecycle/sandbox_status.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "openshell_gvisor/sandbox.h"

namespace osgv {
namespace {

// The gateway's own transient list (gateway-contract.md §0.1).
const std::vector<std::string> kGatewayTransient = {
    "ReconcilerError", "DependenciesNotReady", "SupervisorNotConnected", "Starting",
    "ContainerStarting", "ContainerCreated", "HealthCheckStarting", "InspectFailed"};

const std::vector<SandboxPhase> kAllPhases = {phase::kProvisioning, phase::kRunning,
                                             phase::kExited, phase::kFailed, phase::kDeleting};

// Reasons a record may carry, ours and odd ones.
const std::vector<std::string> kRecordReasons = {
    "",
    reason::kStarting,
    reason::kBackendReady,
    reason::kProcessExited,
    reason::kImagePullFailed,
    reason::kContainerCreateFailed,
    reason::kContainerStartFailed,
    reason::kSandboxLost,
    "Creating",
    "Restoring",
    "Suspended",
    "SomethingUnexpected",
};

SandboxRecord Record(SandboxPhase ph, const std::string& why) {
  SandboxRecord r;
  r.id = "sb-0001";
  r.name = "My-Sandbox_Name.1";
  r.namespace_name = "team-a";
  r.workspace = "ws-7";
  r.runsc_id = "osgv-0123456789abcdef0123456789abcdef";
  r.image_ref = "oci:/images/app:latest";
  r.phase = ph;
  r.reason = why;
  r.message = "some message";
  r.updated_at_ms = 1700000000123;
  r.created_at_ms = 1700000000000;
  return r;
}

const Condition* FindCondition(const SandboxSnapshot& s, const std::string& type) {
  for (const auto& c : s.status.conditions) {
    if (c.type == type) return &c;
  }
  return nullptr;
}

// ---- IsTransientReason ------------------------------------------------------

TEST_CASE("IsTransientReason accepts exactly the gateway's eight reasons", "[status]") {
  for (const auto& r : kGatewayTransient) {
    INFO(r);
    CHECK(IsTransientReason(r));
    CHECK(IsTransientReason(absl::AsciiStrToLower(r)));
    CHECK(IsTransientReason(absl::AsciiStrToUpper(r)));
  }
  CHECK(IsTransientReason("sTaRtInG"));
}

TEST_CASE("IsTransientReason rejects everything else", "[status]") {
  const std::vector<std::string> others = {
      "",
      "Creating",
      "Restoring",
      "ProcessExited",
      "BackendReady",
      "ImagePullFailed",
      "ContainerCreateFailed",
      "ContainerStartFailed",
      "SandboxLost",
      "Suspended",
      "Start",
      "Starting ",
      " Starting",
      "Starting\n",
      "StartingX",
      "ContainerStart",
      "ReconcilerErrors",
      "Inspect Failed",
      "dependencies_not_ready",
  };
  for (const auto& r : others) {
    INFO("'" << r << "'");
    CHECK_FALSE(IsTransientReason(r));
  }
}

TEST_CASE("our own reason constants are classified as the header says", "[status]") {
  CHECK(IsTransientReason(reason::kStarting));
  CHECK_FALSE(IsTransientReason(reason::kBackendReady));
  CHECK_FALSE(IsTransientReason(reason::kProcessExited));
  CHECK_FALSE(IsTransientReason(reason::kImagePullFailed));
  CHECK_FALSE(IsTransientReason(reason::kContainerCreateFailed));
  CHECK_FALSE(IsTransientReason(reason::kContainerStartFailed));
  CHECK_FALSE(IsTransientReason(reason::kSandboxLost));
}

// ---- SnapshotOf: the condition vocabulary -----------------------------------

TEST_CASE("condition vocabulary: Ready=False is terminal only in exited and failed",
          "[status][vocabulary]") {
  for (const auto& ph : kAllPhases) {
    for (const auto& why : kRecordReasons) {
      INFO("phase=" << PhaseName(ph) << " reason=" << why);
      SandboxSnapshot s = SnapshotOf(Record(ph, why));
      const Condition* ready = FindCondition(s, "Ready");
      REQUIRE(ready != nullptr);
      CHECK((ready->status == "True" || ready->status == "False"));
      CHECK(!ready->reason.empty());
      if (ready->status == "False" && !IsTransientReason(ready->reason)) {
        CHECK((ph == phase::kExited || ph == phase::kFailed));
      }
      // No phase here is a suspension.
      CHECK(FindCondition(s, "Suspended") == nullptr);
      for (const auto& c : s.status.conditions) CHECK(c.type != "Suspended");
    }
  }
}

TEST_CASE("condition vocabulary: coming-up phases are transient whatever the stored reason",
          "[status][vocabulary]") {
  for (const auto& ph : {phase::kProvisioning, phase::kDeleting}) {
    for (const auto& why : kRecordReasons) {
      INFO("phase=" << PhaseName(ph) << " reason=" << why);
      // Kept: FindCondition points into it.
      const SandboxSnapshot snap = SnapshotOf(Record(ph, why));
      const Condition* ready = FindCondition(snap, "Ready");
      REQUIRE(ready != nullptr);
      CHECK(ready->status == "False");
      CHECK(IsTransientReason(ready->reason));
    }
  }
}

TEST_CASE("condition vocabulary holds for the checkpoint phases too",
          "[status][vocabulary][checkpoint]") {
  for (const auto& ph : {phase::kStopping, phase::kStarting,
                         phase::kStopped}) {
    for (const auto& why : kRecordReasons) {
      INFO("phase=" << PhaseName(ph) << " reason=" << why);
      SandboxSnapshot s = SnapshotOf(Record(ph, why));
      REQUIRE(!s.status.conditions.empty());
      for (const auto& c : s.status.conditions) {
        CHECK(!c.reason.empty());
        if (c.type == "Ready" && c.status == "False") CHECK(IsTransientReason(c.reason));
      }
      CHECK_FALSE(s.status.deleting);
      CHECK(s.status.sandbox_name == s.name);
      CHECK(s.status.instance_id == "osgv-0123456789abcdef0123456789abcdef");
      const Condition* suspended = FindCondition(s, "Suspended");
      if (ph == phase::kStopped) {
        // Suspended=True alone (gateway-contract §4.7).
        REQUIRE(suspended != nullptr);
        CHECK(suspended->status == "True");
        CHECK(FindCondition(s, "Ready") == nullptr);
      } else {
        CHECK(suspended == nullptr);
      }
    }
  }
}

TEST_CASE("running is Ready=True BackendReady", "[status][vocabulary]") {
  for (const auto& why : kRecordReasons) {
    INFO("reason=" << why);
    SandboxSnapshot s = SnapshotOf(Record(phase::kRunning, why));
    const Condition* ready = FindCondition(s, "Ready");
    REQUIRE(ready != nullptr);
    CHECK(ready->status == "True");
    CHECK(ready->reason == reason::kBackendReady);
    CHECK_FALSE(s.status.deleting);
  }
}

TEST_CASE("exited and failed are terminal with the record's reason", "[status][vocabulary]") {
  for (const auto& ph : {phase::kExited, phase::kFailed}) {
    INFO("phase=" << PhaseName(ph));
    SandboxSnapshot s = SnapshotOf(Record(ph, reason::kProcessExited));
    const Condition* ready = FindCondition(s, "Ready");
    REQUIRE(ready != nullptr);
    CHECK(ready->status == "False");
    CHECK(ready->reason == reason::kProcessExited);
    CHECK(ready->message == "some message");
    CHECK_FALSE(s.status.deleting);

    // No stored reason: still a terminal one, never an empty reason.
    const SandboxSnapshot bare_snap = SnapshotOf(Record(ph, ""));  // FindCondition points into it
    const Condition* bare = FindCondition(bare_snap, "Ready");
    REQUIRE(bare != nullptr);
    CHECK(bare->status == "False");
    CHECK(!bare->reason.empty());
    CHECK_FALSE(IsTransientReason(bare->reason));
  }
}

TEST_CASE("deleting sets status.deleting and nothing else does", "[status][vocabulary]") {
  for (const auto& ph : kAllPhases) {
    INFO("phase=" << PhaseName(ph));
    SandboxSnapshot s = SnapshotOf(Record(ph, ""));
    CHECK(s.status.deleting == (ph == phase::kDeleting));
  }
}

TEST_CASE("the snapshot echoes identity exactly", "[status]") {
  for (const auto& ph : kAllPhases) {
    INFO("phase=" << PhaseName(ph));
    SandboxRecord r = Record(ph, reason::kStarting);
    SandboxSnapshot s = SnapshotOf(r);
    CHECK(s.id == r.id);
    CHECK(s.name == "My-Sandbox_Name.1");
    CHECK(s.namespace_name == r.namespace_name);
    CHECK(s.workspace == r.workspace);
    CHECK(s.status.sandbox_name == r.name);
    CHECK(s.status.instance_id == r.runsc_id);
    CHECK(s.phase == ph);  // for the metrics; proto_convert never sends it
  }
}

TEST_CASE("the Ready condition carries the record's update time and message", "[status]") {
  SandboxRecord r = Record(phase::kProvisioning, reason::kStarting);
  r.message = "pulling image";
  SandboxSnapshot s = SnapshotOf(r);
  const Condition* ready = FindCondition(s, "Ready");
  REQUIRE(ready != nullptr);
  CHECK(ready->last_transition_time == "2023-11-14T22:13:20.123Z");
  CHECK(ready->message == "pulling image");
}

// ---- Rfc3339 and DescribeExit -----------------------------------------------

TEST_CASE("Rfc3339 formats UTC with milliseconds", "[status]") {
  CHECK(Rfc3339(0) == "1970-01-01T00:00:00.000Z");
  CHECK(Rfc3339(1) == "1970-01-01T00:00:00.001Z");
  CHECK(Rfc3339(999) == "1970-01-01T00:00:00.999Z");
  CHECK(Rfc3339(1000) == "1970-01-01T00:00:01.000Z");
  CHECK(Rfc3339(1700000000123) == "2023-11-14T22:13:20.123Z");
  CHECK(Rfc3339(951782400050) == "2000-02-29T00:00:00.050Z");  // leap day
  CHECK(Rfc3339(4102444799999) == "2099-12-31T23:59:59.999Z");
}

TEST_CASE("DescribeExit", "[status]") {
  CHECK_THAT(DescribeExit(3), Catch::Contains("code 3"));
  CHECK_THAT(DescribeExit(3), !Catch::Contains("signal"));
  CHECK_THAT(DescribeExit(0), Catch::Contains("code 0"));
  CHECK_THAT(DescribeExit(1), Catch::Contains("code 1"));
  CHECK_THAT(DescribeExit(128), !Catch::Contains("signal"));
  CHECK_THAT(DescribeExit(137), Catch::Contains("signal 9"));
  CHECK_THAT(DescribeExit(137), Catch::Contains("137"));
  CHECK_THAT(DescribeExit(143), Catch::Contains("signal 15"));
  CHECK_THAT(DescribeExit(130), Catch::Contains("signal 2"));
}

}  // namespace
}  // namespace osgv
