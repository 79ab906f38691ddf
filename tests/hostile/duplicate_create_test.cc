// Concurrent clients creating the same sandbox: exactly one wins, every
// other gets ALREADY_EXISTS naming the field, and one record exists. Each
// client has its own connection, as separate gateways would.
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "hostile/driver_under_test.h"
#include "hostile/state_fingerprint.h"

namespace osgv::testing {
namespace {

constexpr int kClients = 16;

pb::CreateSandboxRequest CreateRequest(const std::string& id, const std::string& name) {
  pb::CreateSandboxRequest in;
  auto* s = in.mutable_sandbox();
  s->set_id(id);
  s->set_name(name);
  s->set_workspace("dev");
  s->mutable_spec()->set_sandbox_token(kSecretToken);
  s->mutable_spec()->mutable_template_()->set_image("registry.invalid/hostile/agent:1");
  return in;
}

// Sends request(i) from kClients threads at once; returns their statuses.
std::vector<grpc::Status> CreateConcurrently(
    DriverUnderTest& driver, const std::function<pb::CreateSandboxRequest(int)>& request) {
  std::vector<std::unique_ptr<pb::ComputeDriver::Stub>> stubs;
  for (int i = 0; i < kClients; ++i) stubs.push_back(driver.Connect());
  std::vector<grpc::Status> statuses(kClients);
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      pb::CreateSandboxRequest in = request(i);
      // Start together, so the requests overlap in the driver.
      ready.fetch_add(1);
      while (ready.load() < kClients) std::this_thread::yield();
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
      pb::CreateSandboxResponse out;
      statuses[i] = stubs[i]->CreateSandbox(&ctx, in, &out);
    });
  }
  for (auto& t : threads) t.join();
  return statuses;
}

void CheckOneWinner(const std::vector<grpc::Status>& statuses, const std::string& field) {
  int ok = 0;
  for (const auto& st : statuses) {
    if (st.ok()) {
      ++ok;
      continue;
    }
    INFO("code " << st.error_code() << ": " << st.error_message());
    CHECK(st.error_code() == grpc::StatusCode::ALREADY_EXISTS);
    CHECK(absl::StartsWith(st.error_message(), field));
    CHECK_FALSE(absl::StrContains(st.error_message(), kSecretToken));
  }
  CHECK(ok == 1);
}

TEST_CASE("concurrent creates of one id: one OK, the rest ALREADY_EXISTS, one record",
          "[hostile]") {
  DriverUnderTest driver;
  auto statuses = CreateConcurrently(driver, [](int) { return CreateRequest("dup-1", "dup"); });
  CheckOneWinner(statuses, "sandbox.id:");
  auto records = Records(driver.store());
  REQUIRE(records.size() == 1);
  CHECK(records[0].id == "dup-1");
  // The losers' token files are gone: one sandbox directory, the winner's.
  CHECK(FingerprintTree(driver.layout().sandboxes()).count("/" + records[0].runsc_id) == 1);
  size_t dirs = 0;
  for (const auto& [path, what] : FingerprintTree(driver.layout().sandboxes())) {
    dirs += path != "." && std::count(path.begin(), path.end(), '/') == 1;
  }
  CHECK(dirs == 1);
  CHECK_FALSE(absl::StrContains(driver.Logs(), kSecretToken));
}

TEST_CASE("concurrent creates of one name with different ids: one OK, one record",
          "[hostile]") {
  DriverUnderTest driver;
  auto statuses = CreateConcurrently(
      driver, [](int i) { return CreateRequest(absl::StrCat("same-name-", i), "same"); });
  CheckOneWinner(statuses, "sandbox.name:");
  CHECK(Records(driver.store()).size() == 1);
}

}  // namespace
}  // namespace osgv::testing
