// The three gateway generations on one socket (docs/generations.md): what
// each one's GetCapabilities gets, how peer metadata is checked, and that
// the v0.1.x fields a gateway sends are honoured or refused by name —
// through the real gRPC service, as a gateway of each generation calls it.
#include <google/protobuf/util/time_util.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "hostile/driver_under_test.h"
#include "hostile/state_fingerprint.h"

namespace osgv::testing {
namespace {

namespace ryno = ::ryno::compute::v1;

template <class Stub, class In, class Out>
grpc::Status Call(Stub& stub, grpc::Status (Stub::*method)(grpc::ClientContext*, const In&, Out*),
                  const In& in, Out* out) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return (stub.*method)(&ctx, in, out);
}

// What a gateway of `prefix` sends (gateway-contract-v01.md §3.1).
template <class Metadata>
void FillGateway(Metadata* gateway, const std::string& prefix) {
  gateway->mutable_protocol_version()->set_major(1);
  gateway->set_implementation_name(prefix + "/gateway");
  gateway->set_implementation_version("0.1.4");
  gateway->add_supported_capabilities(prefix + ".compute.contract");
  gateway->add_supported_capabilities(prefix + ".compute.launch-authentication");
  gateway->add_required_capabilities(prefix + ".compute.contract");
}

pb::GetCapabilitiesRequest V01Request() {
  pb::GetCapabilitiesRequest in;
  FillGateway(in.mutable_gateway(), "openshell");
  return in;
}

pb::CreateSandboxRequest V01Create(const std::string& id, const std::string& name) {
  pb::CreateSandboxRequest in;
  auto* s = in.mutable_sandbox();
  s->set_id(id);
  s->set_name(name);
  s->set_workspace("dev");
  s->mutable_spec()->set_launch_authentication("{\"supervisor\":{}}");
  s->mutable_spec()->mutable_template_()->set_image("registry.invalid/hostile/agent:1");
  return in;
}

TEST_CASE("GetCapabilities without peer metadata (v0.0.x) answers the pin's fields only",
          "[generations]") {
  DriverUnderTest driver;
  auto stub = driver.Connect();
  pb::GetCapabilitiesResponse out;
  REQUIRE(Call(*stub, &pb::ComputeDriver::Stub::GetCapabilities, pb::GetCapabilitiesRequest(), &out)
              .ok());
  CHECK(out.driver_name() == "gvisor");
  CHECK_FALSE(out.has_extension());
  CHECK(out.resource_admission_policy().empty());
  CHECK_FALSE(out.driver_reports_runtime_readiness());
}

TEST_CASE("GetCapabilities from a v0.1.x gateway: peer metadata, v1:{} and the same bytes each call",
          "[generations]") {
  DriverUnderTest driver;
  auto stub = driver.Connect();
  pb::GetCapabilitiesResponse first, second;
  REQUIRE(Call(*stub, &pb::ComputeDriver::Stub::GetCapabilities, V01Request(), &first).ok());
  REQUIRE(Call(*stub, &pb::ComputeDriver::Stub::GetCapabilities, V01Request(), &second).ok());
  REQUIRE(first.has_extension());
  CHECK(first.extension().protocol_version().major() == 1);
  CHECK(first.extension().implementation_name() == "openshell-driver-gvisor");
  CHECK(first.extension().implementation_version() == "0.0.0-test");
  REQUIRE(first.extension().supported_capabilities_size() == 1);
  CHECK(first.extension().supported_capabilities(0) == "openshell.compute.contract");
  CHECK(first.extension().required_capabilities_size() == 0);
  CHECK(first.resource_admission_policy() == "v1:{}");
  CHECK(first.driver_reports_runtime_readiness());
  CHECK_FALSE(first.supports_sandbox_authentication());
  CHECK(first.resource_capabilities().memory().limit_supported());
  CHECK_FALSE(first.resource_capabilities().gpu().count_selection_supported());
  CHECK(first.rootfs_tar_max_bytes() == 0);
  CHECK(first.SerializeAsString() == second.SerializeAsString());
}

TEST_CASE("the Ryno service answers with the ryno. prefix and refuses what a Ryno gateway would not send",
          "[generations]") {
  DriverUnderTest driver;
  auto stub = driver.ConnectRyno();
  ryno::GetCapabilitiesRequest in;
  FillGateway(in.mutable_gateway(), "ryno");
  ryno::GetCapabilitiesResponse out;
  REQUIRE(Call(*stub, &ryno::ComputeDriver::Stub::GetCapabilities, in, &out).ok());
  REQUIRE(out.extension().supported_capabilities_size() == 1);
  CHECK(out.extension().supported_capabilities(0) == "ryno.compute.contract");
  CHECK(out.resource_admission_policy() == "v1:{}");

  ryno::GetCapabilitiesResponse refused;
  auto missing = Call(*stub, &ryno::ComputeDriver::Stub::GetCapabilities,
                      ryno::GetCapabilitiesRequest(), &refused);
  CHECK(missing.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
  CHECK(absl::StartsWith(missing.error_message(), "gateway:"));

  ryno::GetCapabilitiesRequest wrong_family;
  FillGateway(wrong_family.mutable_gateway(), "openshell");
  auto wrong = Call(*stub, &ryno::ComputeDriver::Stub::GetCapabilities, wrong_family, &refused);
  CHECK(wrong.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(absl::StartsWith(wrong.error_message(), "gateway.supported_capabilities:"));
}

TEST_CASE("peer metadata is checked as upstream's negotiate() checks it", "[generations]") {
  DriverUnderTest driver;
  auto stub = driver.Connect();
  struct Case {
    const char* what;
    void (*mutate)(pb::GetCapabilitiesRequest*);
    grpc::StatusCode code;
    const char* field;
  };
  const Case cases[] = {
      {"protocol major 2", [](auto* r) { r->mutable_gateway()->mutable_protocol_version()->set_major(2); },
       grpc::StatusCode::FAILED_PRECONDITION, "gateway.protocol_version:"},
      {"no protocol version", [](auto* r) { r->mutable_gateway()->clear_protocol_version(); },
       grpc::StatusCode::FAILED_PRECONDITION, "gateway.protocol_version:"},
      {"blank name", [](auto* r) { r->mutable_gateway()->set_implementation_name("  "); },
       grpc::StatusCode::INVALID_ARGUMENT, "gateway.implementation_name:"},
      {"control character", [](auto* r) { r->mutable_gateway()->set_implementation_version("1\n2"); },
       grpc::StatusCode::INVALID_ARGUMENT, "gateway.implementation_version:"},
      {"duplicate capability",
       [](auto* r) { r->mutable_gateway()->add_supported_capabilities("openshell.compute.contract"); },
       grpc::StatusCode::INVALID_ARGUMENT, "gateway.supported_capabilities:"},
      {"two segments", [](auto* r) { r->mutable_gateway()->add_supported_capabilities("openshell.x"); },
       grpc::StatusCode::INVALID_ARGUMENT, "gateway.supported_capabilities:"},
      {"upper case", [](auto* r) { r->mutable_gateway()->add_required_capabilities("openshell.Compute.x"); },
       grpc::StatusCode::INVALID_ARGUMENT, "gateway.required_capabilities:"},
      {"a capability this driver lacks",
       [](auto* r) { r->mutable_gateway()->add_required_capabilities("openshell.compute.launch-authentication"); },
       grpc::StatusCode::FAILED_PRECONDITION, "gateway.required_capabilities:"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    pb::GetCapabilitiesRequest in = V01Request();
    c.mutate(&in);
    pb::GetCapabilitiesResponse out;
    auto status = Call(*stub, &pb::ComputeDriver::Stub::GetCapabilities, in, &out);
    CHECK(status.error_code() == c.code);
    CHECK(absl::StartsWith(status.error_message(), c.field));
  }
}

TEST_CASE("AuthenticateSandbox is UNIMPLEMENTED on both services", "[generations]") {
  DriverUnderTest driver;
  pb::AuthenticateSandboxResponse out;
  pb::AuthenticateSandboxRequest in;
  in.set_credential("bearer-material");
  auto status = Call(*driver.Connect(), &pb::ComputeDriver::Stub::AuthenticateSandbox, in, &out);
  CHECK(status.error_code() == grpc::StatusCode::UNIMPLEMENTED);
  ryno::AuthenticateSandboxResponse rout;
  auto rstatus = Call(*driver.ConnectRyno(), &ryno::ComputeDriver::Stub::AuthenticateSandbox,
                      ryno::AuthenticateSandboxRequest(), &rout);
  CHECK(rstatus.error_code() == grpc::StatusCode::UNIMPLEMENTED);
}

TEST_CASE("a v0.1.x create with driver_config the admission policy does not allow changes nothing",
          "[generations]") {
  DriverUnderTest driver;
  auto stub = driver.Connect();
  pb::CreateSandboxRequest in = V01Create("0123456789abcdef0123456789abcdef", "admitted");
  (*in.mutable_sandbox()->mutable_spec()->mutable_template_()->mutable_driver_config()
        ->mutable_fields())["runtime"]
      .set_string_value("runc");
  const Fingerprint before = FingerprintTree(driver.layout().root);
  pb::CreateSandboxResponse out;
  auto status = Call(*stub, &pb::ComputeDriver::Stub::CreateSandbox, in, &out);
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(absl::StartsWith(status.error_message(), "spec.template.driver_config:"));
  CHECK(Records(driver.store()).empty());
  CHECK(ChangedPaths(before, FingerprintTree(driver.layout().root)).empty());

  // The same request from a v0.0.x gateway, which acknowledged no policy,
  // is not refused for it (its driver_config rules are the pin's).
  pb::CreateSandboxRequest pin = in;
  pin.mutable_sandbox()->mutable_spec()->clear_launch_authentication();
  pb::ValidateSandboxCreateRequest validate;
  *validate.mutable_sandbox() = pin.sandbox();
  pb::ValidateSandboxCreateResponse vout;
  pb::GetCapabilitiesResponse caps;
  REQUIRE(Call(*stub, &pb::ComputeDriver::Stub::GetCapabilities, pb::GetCapabilitiesRequest(), &caps)
              .ok());
  auto pin_status = Call(*stub, &pb::ComputeDriver::Stub::ValidateSandboxCreate, validate, &vout);
  CHECK_FALSE(absl::StartsWith(pin_status.error_message(), "spec.template.driver_config: not admitted"));
}

TEST_CASE("v0.1.x and Ryno creates return the runtime identity; both timestamp fields are filled",
          "[generations]") {
  DriverUnderTest driver;
  auto stub = driver.Connect();
  const std::string id = "00112233445566778899aabbccddeeff";
  pb::CreateSandboxResponse created;
  REQUIRE(Call(*stub, &pb::ComputeDriver::Stub::CreateSandbox, V01Create(id, "identity"), &created)
              .ok());
  CHECK(created.runtime_identity() == "gvisor://" + id);

  pb::GetSandboxRequest get;
  get.set_sandbox_id(id);
  pb::GetSandboxResponse got;
  REQUIRE(Call(*stub, &pb::ComputeDriver::Stub::GetSandbox, get, &got).ok());
  REQUIRE(got.sandbox().status().conditions_size() > 0);
  for (const auto& c : got.sandbox().status().conditions()) {
    INFO(c.type());
    CHECK_FALSE(c.last_transition_time().empty());
    REQUIRE(c.has_transition_time());
    CHECK(google::protobuf::util::TimeUtil::ToString(c.transition_time()) != "");
    google::protobuf::Timestamp parsed;
    REQUIRE(google::protobuf::util::TimeUtil::FromString(c.last_transition_time(), &parsed));
    CHECK(parsed.seconds() == c.transition_time().seconds());
  }

  // The Ryno service reads the same sandbox under its names, without the
  // v0.0.x field (which its proto does not declare).
  ryno::GetSandboxRequest rget;
  rget.set_sandbox_id(id);
  ryno::GetSandboxResponse rgot;
  REQUIRE(Call(*driver.ConnectRyno(), &ryno::ComputeDriver::Stub::GetSandbox, rget, &rgot).ok());
  REQUIRE(rgot.sandbox().status().conditions_size() > 0);
  CHECK(rgot.sandbox().status().conditions(0).has_transition_time());
  CHECK(rgot.sandbox().status().conditions(0).GetReflection()
            ->GetUnknownFields(rgot.sandbox().status().conditions(0))
            .empty());
}

TEST_CASE("StartSandbox refuses a malformed generation_id by name", "[generations]") {
  DriverUnderTest driver;
  driver.CreateSettled("aaaabbbbccccddddeeeeffff00001111", "gen");
  pb::StartSandboxRequest in;
  in.set_sandbox_id("aaaabbbbccccddddeeeeffff00001111");
  in.set_generation_id("Not/A generation");
  pb::StartSandboxResponse out;
  auto status = Call(*driver.Connect(), &pb::ComputeDriver::Stub::StartSandbox, in, &out);
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(absl::StartsWith(status.error_message(), "generation_id:"));
}

TEST_CASE("a Ryno watch stream carries the sandboxes under Ryno's names with event_time",
          "[generations]") {
  DriverUnderTest driver;
  driver.CreateSettled("99998888777766665555444433332222", "watched");
  auto stub = driver.ConnectRyno();
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto reader = stub->WatchSandboxes(&ctx, ryno::WatchSandboxesRequest());
  ryno::WatchSandboxesEvent event;
  REQUIRE(reader->Read(&event));
  REQUIRE(event.has_sandbox());
  CHECK(event.sandbox().sandbox().id() == "99998888777766665555444433332222");
  ctx.TryCancel();
}

// Every regular file under `root` whose bytes contain `needle`.
std::vector<std::string> FilesContaining(const std::string& root, const std::string& needle) {
  std::vector<std::string> hits;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    if (absl::StrContains(bytes.str(), needle)) hits.push_back(entry.path().string());
  }
  return hits;
}

TEST_CASE("v0.1.x credentials (launch_authentication, the gateway JWT) reach no file and no log",
          "[generations][secrets]") {
  DriverUnderTest driver;
  const std::string launch = "launch-bundle-secret-5d1e0b";
  const std::string jwt = "supervisor-gateway-jwt-8c2f47";
  pb::CreateSandboxRequest in = V01Create("0a0b0c0d0e0f00112233445566778899", "secrets");
  in.mutable_sandbox()->mutable_spec()->set_launch_authentication(launch);
  in.mutable_sandbox()->mutable_spec()->set_sandbox_token(jwt);
  pb::CreateSandboxResponse out;
  REQUIRE(Call(*driver.Connect(), &pb::ComputeDriver::Stub::CreateSandbox, in, &out).ok());
  pb::StartSandboxRequest start;
  start.set_sandbox_id("0a0b0c0d0e0f00112233445566778899");
  start.set_launch_authentication(launch);
  start.set_generation_id("gen-1");
  pb::StartSandboxResponse started;
  Call(*driver.Connect(), &pb::ComputeDriver::Stub::StartSandbox, start, &started);
  for (const std::string& secret : {launch, jwt}) {
    INFO(secret);
    CHECK(FilesContaining(driver.layout().root, secret).empty());
    CHECK(FilesContaining(driver.checkpoint_dir(), secret).empty());
    CHECK_FALSE(absl::StrContains(driver.Logs(), secret));
  }
}

}  // namespace
}  // namespace osgv::testing
