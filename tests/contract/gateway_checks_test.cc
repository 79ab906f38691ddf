// The gateway's checks that the contract clients apply: each must accept
// what an upstream gateway accepts and refuse what it refuses, or the live
// test proves nothing.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include "gateway_checks.h"

namespace osgv::contract {
namespace {

PeerInfo GoodDriver(const std::string& prefix) {
  PeerInfo d;
  d.has_protocol_version = true;
  d.major = 1;
  d.minor = 0;
  d.implementation_name = "openshell-driver-gvisor";
  d.implementation_version = "0.1.0";
  d.supported_capabilities = {prefix + ".compute.contract"};
  return d;
}

absl::Status NegotiateWith(const PeerInfo& driver, const std::string& prefix = "openshell") {
  return Negotiate(driver, GatewayMetadata(prefix, "0.1.2", false), prefix, "gvisor");
}

TEST_CASE("negotiate accepts a conforming driver of either family", "[contract]") {
  CHECK(NegotiateWith(GoodDriver("openshell")).ok());
  CHECK(NegotiateWith(GoodDriver("ryno"), "ryno").ok());
  PeerInfo newer_minor = GoodDriver("openshell");
  newer_minor.minor = 7;
  CHECK(NegotiateWith(newer_minor).ok());
}

TEST_CASE("negotiate refuses what upstream's negotiate() refuses", "[contract]") {
  auto refused = [](const absl::Status& st, const std::string& words) {
    INFO(st.message());
    CHECK(st.code() == absl::StatusCode::kFailedPrecondition);
    CHECK(std::string(st.message()).find(words) != std::string::npos);
  };
  refused(Negotiate(std::nullopt, GatewayMetadata("openshell", "0.1.2", false), "openshell",
                    "gvisor"),
          "did not provide protocol metadata");
  PeerInfo d = GoodDriver("openshell");
  d.has_protocol_version = false;
  refused(NegotiateWith(d), "did not provide a protocol version");
  d = GoodDriver("openshell");
  d.major = 2;
  refused(NegotiateWith(d), "unsupported protocol 2.0");
  d = GoodDriver("openshell");
  d.implementation_name = "  ";
  refused(NegotiateWith(d), "invalid implementation_name");
  d = GoodDriver("openshell");
  d.implementation_version = std::string(129, 'v');
  refused(NegotiateWith(d), "invalid implementation_version");
  d = GoodDriver("openshell");
  d.implementation_name = "gvisor\n";
  refused(NegotiateWith(d), "control characters");
  for (const char* bad : {"ryno.compute.contract", "openshell.compute", "openshell.Compute.x",
                          "openshell..contract", "openshell.compute.con_tract"}) {
    d = GoodDriver("openshell");
    d.supported_capabilities.push_back(bad);
    refused(NegotiateWith(d), "must be a lowercase namespaced identifier");
  }
  d = GoodDriver("openshell");
  d.supported_capabilities.push_back("openshell.compute." + std::string(120, 'a'));
  refused(NegotiateWith(d), "must be a lowercase namespaced identifier");
  d = GoodDriver("openshell");
  d.supported_capabilities.push_back("openshell.compute.contract");
  refused(NegotiateWith(d), "duplicate 'openshell.compute.contract'");
  d = GoodDriver("openshell");
  d.supported_capabilities = {"openshell.compute.other"};
  refused(NegotiateWith(d), "missing required capabilities: openshell.compute.contract");
  d = GoodDriver("openshell");
  d.required_capabilities = {"openshell.compute.launch-authentication"};
  refused(NegotiateWith(d), "gateway is missing capabilities required by");
}

TEST_CASE("admission check 1 takes v1:{} and its spelled-out default only", "[contract]") {
  CHECK(CheckDefaultAdmissionPolicy("v1:{}", "openshell").ok());
  CHECK(CheckDefaultAdmissionPolicy("v1:{}", "ryno").ok());
  CHECK(CheckDefaultAdmissionPolicy(
            R"(v1:{"resource_admission":{"required_labels":{"openshell.ai/sandbox-attachable-workspace":"${workspace}","openshell.ai/sandbox-attachable":"true"},"enabled":true},"allow_driver_config":false})",
            "openshell")
            .ok());
  CHECK(CheckDefaultAdmissionPolicy(R"(v1: { "allow_driver_config" : false })", "openshell").ok());

  for (const char* bad : {
           "",                                              // legacy: needs an opt-out
           "{}",                                            // no v1: prefix
           "v2:{}", "v1:", "v1:[]", "v1:{",                 // not the format
           R"(v1:{"extra":1})",                             // unknown key
           R"(v1:{"resource_admission":{"mode":"x"}})",     // unknown nested key
           R"(v1:{"allow_driver_config":"false"})",         // wrong type
           R"(v1:{"allow_driver_config":true})",            // differs from the default
           R"(v1:{"resource_admission":{"enabled":false}})",
           R"(v1:{"resource_admission":{"required_labels":{}}})",
           R"(v1:{"resource_admission":{"required_labels":{"ryno.ai/sandbox-attachable":"true","ryno.ai/sandbox-attachable-workspace":"${workspace}"}}})",
       }) {
    INFO(bad);
    CHECK(CheckDefaultAdmissionPolicy(bad, "openshell").code() ==
          absl::StatusCode::kFailedPrecondition);
  }
}

TEST_CASE("a listener's exact_bind_address must be IP:port", "[contract]") {
  for (const char* good : {"10.89.0.1:8080", "0.0.0.0:0", "[::1]:443", "[fe80::1]:65535"}) {
    INFO(good);
    CHECK(IsSocketAddress(good));
  }
  for (const char* bad : {"", "10.89.0.1", "10.89.0.1:", "10.89.0.1:65536", "10.89.0.1:+80",
                          "host:80", "::1:443", "[::1]", "10.89.0.1:80 ", "[10.0.0.1]:80"}) {
    INFO(bad);
    CHECK_FALSE(IsSocketAddress(bad));
  }
}

TEST_CASE("derive_phase maps conditions as the gateway does", "[contract]") {
  using C = std::vector<Condition>;
  CHECK(DerivePhase(C{{"Ready", "True", "BackendReady", ""}}, false) == Phase::kReady);
  CHECK(DerivePhase(C{{"Ready", "true", "", ""}}, false) == Phase::kReady);
  CHECK(DerivePhase(C{{"Ready", "False", "Starting", ""}}, false) == Phase::kProvisioning);
  CHECK(DerivePhase(C{{"Ready", "False", "SUPERVISORNOTCONNECTED", ""}}, false) ==
        Phase::kProvisioning);
  CHECK(DerivePhase(C{{"Ready", "False", "Restoring", ""}}, false) == Phase::kError);
  CHECK(DerivePhase(C{{"Ready", "False", "", ""}}, false) == Phase::kError);
  CHECK(DerivePhase(C{{"Ready", "Unknown", "x", ""}}, false) == Phase::kProvisioning);
  CHECK(DerivePhase(C{{"ready", "True", "", ""}}, false) == Phase::kProvisioning);
  CHECK(DerivePhase(C{{"Suspended", "True", "Checkpointed", ""}}, false) == Phase::kStopped);
  CHECK(DerivePhase(C{{"Ready", "True", "", ""}, {"suspended", "TRUE", "", ""}}, false) ==
        Phase::kStopped);
  CHECK(DerivePhase(C{{"Ready", "True", "", ""}}, true) == Phase::kDeleting);
  CHECK(DerivePhase(C{}, false) == Phase::kProvisioning);
}

TEST_CASE("timestamps must be recent and, for the pin, RFC 3339", "[contract]") {
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  CHECK(CheckRecent("t", now - absl::Seconds(59), now, absl::Minutes(1)).ok());
  CHECK_FALSE(CheckRecent("t", now - absl::Seconds(61), now, absl::Minutes(1)).ok());
  CHECK_FALSE(CheckRecent("t", absl::UnixEpoch(), now, absl::Minutes(1)).ok());
  CHECK(CheckRecentRfc3339("t", absl::FormatTime(absl::RFC3339_full, now - absl::Seconds(2),
                                                 absl::UTCTimeZone()),
                           now, absl::Minutes(1))
            .ok());
  CHECK(CheckRecentRfc3339("t", "2027-01-15T08:00:00.123Z", absl::FromUnixSeconds(1'800'000'000),
                           absl::Minutes(1))
            .ok());
  CHECK_FALSE(CheckRecentRfc3339("t", "", now, absl::Minutes(1)).ok());
  CHECK_FALSE(CheckRecentRfc3339("t", "1800000000000", now, absl::Minutes(1)).ok());
}

}  // namespace
}  // namespace osgv::contract
