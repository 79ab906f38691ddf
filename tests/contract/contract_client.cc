// A stand-in for one gateway generation, generated from that generation's
// own proto (tests/contract/proto/<generation>), driving a running driver
// and checking every answer as that gateway would. Compiled three times
// (osgv_contract_client_v0, _v01, _ryno): OSGV_CONTRACT_GENERATION_HEADER
// names generations/<g>.h, which brings the generated code, the names, and
// the wire functions (wire_pin.h or wire_v01.h) this file calls.
//
//   osgv_contract_client_<g> capabilities|create|stop|start|delete
//       --socket PATH [--image REF] [--id ID]
//
// Each run is one gateway start-up (GetCapabilities with every check) and
// one step of a sandbox's life, so that generations_test.sh can look inside
// the sandbox between steps. Exit 0 when every check passed; 1 with
// "FAIL [<generation>] <step>: <why>" on the first failure; 2 on a usage
// error.
#include <grpcpp/grpcpp.h>

#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include OSGV_CONTRACT_GENERATION_HEADER

namespace osgv::contract {
namespace {

constexpr absl::Duration kReadyTimeout = absl::Seconds(60);
constexpr absl::Duration kStoppedTimeout = absl::Seconds(30);
constexpr absl::Duration kRpcTimeout = absl::Seconds(120);  // Stop and Start move memory
// Busybox's sh: a counter in the sandbox's memory (/dev/shm is a tmpfs),
// which a restore keeps and a cold boot starts again at 1.
constexpr char kCounterLoop[] =
    "i=0; while true; do i=$((i+1)); echo $i > /dev/shm/counter; sleep 0.2; done";

struct Options {
  std::string command;
  std::string socket;
  std::string image;
  std::string id = std::string("contract-") + kTag;
};

// The gateway's compute-runtime name for the sandbox: a DNS label of at most
// 19 characters (gateway-contract.md §2).
std::string SandboxName() { return std::string("ct-") + kTag; }

template <class Request>
Request Addressed(const Options& o) {
  Request r;
  r.set_sandbox_id(o.id);
  SetName(&r, SandboxName());
  return r;
}

std::vector<Condition> Conditions(const pb::DriverSandbox& s) {
  std::vector<Condition> out;
  for (const auto& c : s.status().conditions()) {
    out.push_back({c.type(), c.status(), c.reason(), c.message()});
  }
  return out;
}

std::string DescribeConditions(const pb::DriverSandbox& s) {
  std::string out;
  for (const auto& c : s.status().conditions()) {
    absl::StrAppend(&out, out.empty() ? "" : "; ", c.type(), "=", c.status(), " ", c.reason(),
                    ": ", c.message());
  }
  return out.empty() ? "no conditions" : out;
}

grpc::Status GetSandbox(Session& s, const Options& o, pb::DriverSandbox* out) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx, absl::Seconds(10));
  auto req = Addressed<pb::GetSandboxRequest>(o);
  pb::GetSandboxResponse resp;
  auto st = s.stub->GetSandbox(&ctx, req, &resp);
  *out = resp.sandbox();
  return st;
}

// Polls GetSandbox until the gateway would call the sandbox `want`; the
// gateway's Error is permanent, so that ends the wait at once.
absl::StatusOr<pb::DriverSandbox> WaitForPhase(Session& s, const Options& o, Phase want,
                                               absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  pb::DriverSandbox last;
  Phase phase = Phase::kProvisioning;
  while (absl::Now() < deadline) {
    if (auto st = GetSandbox(s, o, &last); !st.ok()) return RpcFailed("GetSandbox", st);
    if (last.id() != o.id) {  // the gateway treats this as an error
      return absl::FailedPreconditionError(
          absl::StrCat("GetSandbox for id ", o.id, " answered with id '", last.id(), "'"));
    }
    phase = DerivePhase(Conditions(last), last.status().deleting());
    if (phase == want) return last;
    if (phase == Phase::kError || phase == Phase::kDeleting) break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "the gateway would see phase ", PhaseName(phase), ", not ", PhaseName(want),
      phase == Phase::kError ? " (permanent)" : absl::StrCat(" after ", absl::FormatDuration(timeout)),
      "; conditions: ", DescribeConditions(last)));
}

// Ready, with the Ready condition's time in the field this generation reads.
absl::Status WaitReady(Session& s, const Options& o) {
  auto sandbox = WaitForPhase(s, o, Phase::kReady, kReadyTimeout);
  if (!sandbox.ok()) return sandbox.status();
  for (const auto& c : sandbox->status().conditions()) {
    if (c.type() == "Ready") return CheckConditionTime(c, absl::Now());
  }
  return absl::InternalError("Ready phase without a Ready condition");
}

// The gateway's reconcile sweep starts from ListSandboxes' ids.
absl::Status Listed(Session& s, const Options& o) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx, absl::Seconds(10));
  pb::ListSandboxesResponse resp;
  if (auto st = s.stub->ListSandboxes(&ctx, pb::ListSandboxesRequest(), &resp); !st.ok()) {
    return RpcFailed("ListSandboxes", st);
  }
  for (const auto& sb : resp.sandboxes()) {
    if (sb.id() == o.id) return absl::OkStatus();
  }
  return absl::FailedPreconditionError(
      absl::StrCat("ListSandboxes does not list the ready sandbox ", o.id));
}

// The platform events a WatchSandboxes stream brings for one sandbox while
// a step runs, each with the time it arrived.
class EventRecorder {
 public:
  EventRecorder(Session& s, std::string id) : id_(std::move(id)) {
    reader_ = s.stub->WatchSandboxes(&ctx_, pb::WatchSandboxesRequest());
    thread_ = std::thread([this] { Read(); });
  }
  ~EventRecorder() {
    ctx_.TryCancel();
    thread_.join();
    (void)reader_->Finish();  // CANCELLED, by us
  }

  // Every event so far must carry this generation's event time.
  absl::Status Check(std::ostream& log) {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [event, arrived] : events_) {
      if (auto st = CheckEventTime(event, arrived); !st.ok()) return st;
    }
    log << "  " << events_.size() << " platform event(s) on WatchSandboxes, each with this "
        << "generation's event time\n";
    return absl::OkStatus();
  }

 private:
  void Read() {
    pb::WatchSandboxesEvent ev;
    while (reader_->Read(&ev)) {
      if (ev.has_platform_event() && ev.platform_event().sandbox_id() == id_) {
        std::lock_guard<std::mutex> lock(mu_);
        events_.emplace_back(ev.platform_event().event(), absl::Now());
      }
    }
  }

  std::string id_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<pb::WatchSandboxesEvent>> reader_;
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::pair<pb::DriverPlatformEvent, absl::Time>> events_;
};

// ---- the steps ----------------------------------------------------------

absl::Status Capabilities(Session& s, const Options&) {
  // Check 2 of §3.3 (v0.1.x, Ryno): a second call repeats the policy.
  if (auto st = BeforeOperation(s, "a second call"); !st.ok()) return st;
  return CapabilityRefusals(s);
}

pb::DriverSandbox NewSandbox(const Options& o) {
  pb::DriverSandbox sb;
  sb.set_id(o.id);
  sb.set_name(SandboxName());
  sb.set_workspace("default");
  auto* spec = sb.mutable_spec();
  spec->mutable_template_()->set_image(o.image);
  for (const char* arg : {"sh", "-c", kCounterLoop}) spec->add_command(arg);
  FillCreateSpec(spec);
  return sb;
}

absl::Status Create(Session& s, const Options& o) {
  if (o.image.empty()) return absl::InvalidArgumentError("create needs --image");
  pb::DriverSandbox sandbox = NewSandbox(o);
  {
    if (auto st = BeforeOperation(s, "ValidateSandboxCreate"); !st.ok()) return st;
    grpc::ClientContext ctx;
    SetDeadline(&ctx, absl::Seconds(30));
    pb::ValidateSandboxCreateRequest req;
    *req.mutable_sandbox() = sandbox;  // without a token, as the gateway sends it
    pb::ValidateSandboxCreateResponse resp;
    if (auto st = s.stub->ValidateSandboxCreate(&ctx, req, &resp); !st.ok()) {
      return RpcFailed("ValidateSandboxCreate", st);
    }
  }
  EventRecorder events(s, o.id);
  {
    if (auto st = BeforeOperation(s, "CreateSandbox"); !st.ok()) return st;
    grpc::ClientContext ctx;
    SetDeadline(&ctx, kRpcTimeout);
    pb::CreateSandboxRequest req;
    *req.mutable_sandbox() = sandbox;
    // The gateway-minted JWT in a real gateway; opaque to the driver.
    req.mutable_sandbox()->mutable_spec()->set_sandbox_token("contract-test-sandbox-token");
    pb::CreateSandboxResponse resp;
    if (auto st = s.stub->CreateSandbox(&ctx, req, &resp); !st.ok()) {
      return RpcFailed("CreateSandbox", st);
    }
    if (auto st = CheckCreated(s, resp); !st.ok()) return st;
  }
  if (auto st = WaitReady(s, o); !st.ok()) return st;
  if (auto st = Listed(s, o); !st.ok()) return st;
  return events.Check(std::cout);
}

absl::Status Stop(Session& s, const Options& o) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx, kRpcTimeout);
  auto req = Addressed<pb::StopSandboxRequest>(o);
  pb::StopSandboxResponse resp;
  if (auto st = s.stub->StopSandbox(&ctx, req, &resp); !st.ok()) {
    return RpcFailed("StopSandbox", st);
  }
  // The gateway records Stopped itself; a later snapshot that mapped to
  // anything else would move the sandbox out of it.
  auto stopped = WaitForPhase(s, o, Phase::kStopped, kStoppedTimeout);
  return stopped.ok() ? absl::OkStatus() : stopped.status();
}

std::string NewGenerationId() {
  std::random_device rd;
  return absl::StrCat("gen-", absl::Hex(rd(), absl::kZeroPad8));
}

absl::Status Start(Session& s, const Options& o) {
  if (auto st = BeforeOperation(s, "StartSandbox"); !st.ok()) return st;
  EventRecorder events(s, o.id);
  const std::string generation_id = NewGenerationId();
  for (int call = 1; call <= kStartCalls; ++call) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx, kRpcTimeout);
    auto req = Addressed<pb::StartSandboxRequest>(o);
    FillStart(&req, generation_id);
    pb::StartSandboxResponse resp;
    if (auto st = s.stub->StartSandbox(&ctx, req, &resp); !st.ok()) {
      return RpcFailed(call == 1 ? "StartSandbox" : "StartSandbox retried with the same "
                                                    "generation_id",
                       st);
    }
    if (auto st = CheckStarted(s, resp); !st.ok()) return st;
  }
  if (auto st = WaitReady(s, o); !st.ok()) return st;
  return events.Check(std::cout);
}

absl::Status Delete(Session& s, const Options& o) {
  {
    grpc::ClientContext ctx;
    SetDeadline(&ctx, kRpcTimeout);
    auto req = Addressed<pb::DeleteSandboxRequest>(o);
    pb::DeleteSandboxResponse resp;
    if (auto st = s.stub->DeleteSandbox(&ctx, req, &resp); !st.ok()) {
      return RpcFailed("DeleteSandbox", st);
    }
    if (!resp.deleted()) {
      return absl::FailedPreconditionError("DeleteSandboxResponse.deleted is false for a "
                                           "sandbox that existed");
    }
  }
  pb::DriverSandbox ignored;
  return ExpectRefused("GetSandbox after the delete", GetSandbox(s, o, &ignored),
                       absl::StatusCode::kNotFound);
}

using Step = absl::Status (*)(Session&, const Options&);
const std::map<std::string, Step>& Steps() {
  static const std::map<std::string, Step> steps = {{"capabilities", Capabilities},
                                                    {"create", Create},
                                                    {"stop", Stop},
                                                    {"start", Start},
                                                    {"delete", Delete}};
  return steps;
}

int Usage(const std::string& problem) {
  std::cerr << problem << "\nusage: " << "osgv_contract_client_" << kTag
            << " capabilities|create|stop|start|delete --socket PATH [--image REF] [--id ID]\n";
  return 2;
}

int Main(int argc, char** argv) {
  if (argc < 2) return Usage("no step given");
  Options o;
  o.command = argv[1];
  for (int i = 2; i < argc; i += 2) {
    std::string flag = argv[i];
    if (i + 1 >= argc) return Usage(flag + " needs a value");
    std::string value = argv[i + 1];
    if (flag == "--socket") o.socket = value;
    else if (flag == "--image") o.image = value;
    else if (flag == "--id") o.id = value;
    else return Usage("unknown flag " + flag);
  }
  auto step = Steps().find(o.command);
  if (step == Steps().end()) return Usage("unknown step " + o.command);
  if (o.socket.empty()) return Usage("--socket is required");

  Session s;
  s.stub = pb::ComputeDriver::NewStub(
      grpc::CreateChannel("unix://" + o.socket, grpc::InsecureChannelCredentials()));
  // Every run is a gateway starting up: it negotiates before anything else.
  absl::Status st = Startup(s);
  if (st.code() == absl::StatusCode::kUnimplemented) {
    st = absl::UnimplementedError(absl::StrCat(st.message(), " (the driver does not serve ",
                                               pb::ComputeDriver::service_full_name(), ")"));
  }
  const std::string what = st.ok() ? o.command : "gateway start-up (GetCapabilities)";
  if (st.ok()) st = step->second(s, o);
  if (!st.ok()) {
    std::cerr << "FAIL [" << kGeneration << "] " << what << ": " << st.message() << "\n";
    return 1;
  }
  std::cout << "ok [" << kGeneration << "] " << o.command << " (driver '" << s.driver_name
            << "', sandbox " << o.id << ")\n";
  return 0;
}

}  // namespace
}  // namespace osgv::contract

int main(int argc, char** argv) { return osgv::contract::Main(argc, argv); }
