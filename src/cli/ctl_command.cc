// `openshell-driver-gvisor ctl --socket PATH COMMAND`: a client for a
// running driver, for operators and scripts. Readable tables by default,
// the proto's JSON mapping with --json. gRPC errors print their code and
// message and exit 1.
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "capabilities/config.h"
#include "cli/cli_args.h"
#include "cli/command_errors.h"
#include "cli/commands.h"
#include "cli/health_client.h"
#include "compute_driver.grpc.pb.h"
#include "lifecycle/fs_util.h"

namespace osgv {
namespace {

namespace pb = ::openshell::compute::v1;
using Clock = std::chrono::steady_clock;

constexpr char kUsage[] = R"(usage: openshell-driver-gvisor ctl --socket PATH [--json] [--timeout D] COMMAND
  caps                      driver name, version, default image, lifecycle mode
  health                    exit 0 only when the driver reports SERVING
  list | get ID             sandboxes and their Ready condition
  create|validate [--id ID] --name NAME [--image REF] [--workspace W]
        [--env K=V]... [--label K=V]... [--cpu Q] [--memory Q]
        [--file REQUEST.json] [--wait] [-- CMD...]
  stop ID | start ID | delete ID
  watch                     stream events until interrupted
)";

struct Ctl {
  ParsedArgs args;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::ComputeDriver::Stub> stub;
  std::chrono::milliseconds timeout{30000};
  bool json = false;

  std::unique_ptr<grpc::ClientContext> Context() const {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + timeout);
    return ctx;
  }
};

int Usage(const std::string& problem) { return UsageError("ctl", problem, kUsage); }

// gRPC's codes are absl's (same numbers, same names).
int RpcError(const std::string& rpc, const grpc::Status& st) {
  return CommandFailed(rpc, absl::Status(static_cast<absl::StatusCode>(st.error_code()),
                                         st.error_message()));
}

std::string JsonOf(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, opts);
  return out;
}

void PrintJson(const google::protobuf::Message& m) { std::cout << JsonOf(m) << "\n"; }

const pb::DriverCondition* Condition(const pb::DriverSandbox& s, const std::string& type) {
  for (const auto& c : s.status().conditions()) {
    if (c.type() == type) return &c;
  }
  return nullptr;
}

const pb::DriverCondition* Ready(const pb::DriverSandbox& s) { return Condition(s, "Ready"); }

// The condition that describes the sandbox best: Suspended while stopped.
const pb::DriverCondition* Main(const pb::DriverSandbox& s) {
  const auto* suspended = Condition(s, "Suspended");
  if (suspended && suspended->status() == "True") return suspended;
  return Ready(s);
}

std::string StateOf(const pb::DriverSandbox& s) {
  if (s.status().deleting()) return "Deleting";
  const auto* c = Main(s);
  if (!c) return "Unknown";
  if (c->type() == "Suspended") return "Stopped";
  if (c->status() == "True") return "Ready";
  return c->reason();
}

void PrintTable(const std::vector<pb::DriverSandbox>& sandboxes) {
  std::printf("%-38s %-20s %-12s %-16s %s\n", "ID", "NAME", "WORKSPACE", "STATE", "MESSAGE");
  for (const auto& s : sandboxes) {
    const auto* c = Main(s);
    std::printf("%-38s %-20s %-12s %-16s %s\n", s.id().c_str(), s.name().c_str(),
                s.workspace().c_str(), StateOf(s).c_str(), c ? c->message().c_str() : "");
  }
}

bool SplitKeyValue(const std::string& kv, std::string* k, std::string* v) {
  auto eq = kv.find('=');
  if (eq == std::string::npos || eq == 0) return false;
  *k = kv.substr(0, eq);
  *v = kv.substr(eq + 1);
  return true;
}

std::string RandomId() {
  std::random_device rd;
  return absl::StrFormat("ctl-%08x%08x", rd(), rd());
}

// The request from --file (proto JSON mapping), then flags on top.
absl::StatusOr<pb::DriverSandbox> SandboxFromArgs(const ParsedArgs& a) {
  pb::DriverSandbox s;
  if (auto file = a.Get("file")) {
    auto text = ReadFile(*file);
    if (!text.ok()) return text.status();
    auto st = google::protobuf::util::JsonStringToMessage(*text, &s);
    if (!st.ok()) return absl::InvalidArgumentError(absl::StrCat(*file, ": ", st.ToString()));
  }
  if (auto v = a.Get("id")) s.set_id(*v);
  if (auto v = a.Get("name")) s.set_name(*v);
  if (auto v = a.Get("workspace")) s.set_workspace(*v);
  if (s.workspace().empty()) s.set_workspace("default");
  if (s.id().empty()) s.set_id(RandomId());
  auto* spec = s.mutable_spec();
  auto* t = spec->mutable_template_();
  if (auto v = a.Get("image")) t->set_image(*v);
  for (const auto& kv : a.GetAll("env")) {
    std::string k, v;
    if (!SplitKeyValue(kv, &k, &v)) return absl::InvalidArgumentError("--env: expected KEY=VALUE");
    (*spec->mutable_environment())[k] = v;
  }
  for (const auto& kv : a.GetAll("label")) {
    std::string k, v;
    if (!SplitKeyValue(kv, &k, &v)) return absl::InvalidArgumentError("--label: expected KEY=VALUE");
    (*t->mutable_labels())[k] = v;
  }
  if (auto v = a.Get("cpu")) t->mutable_resources()->set_cpu_limit(*v);
  if (auto v = a.Get("memory")) t->mutable_resources()->set_memory_limit(*v);
  if (a.has_rest) {
    spec->clear_command();
    for (const auto& c : a.rest) spec->add_command(c);
  }
  return s;
}

// Waits on a Watch stream until the sandbox is Ready=True (0) or reports a
// failure (1).
int WaitReady(Ctl& c, const std::string& id, Clock::time_point started) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(10));
  auto reader = c.stub->WatchSandboxes(&ctx, pb::WatchSandboxesRequest());
  pb::WatchSandboxesEvent ev;
  while (reader->Read(&ev)) {
    if (!ev.has_sandbox() || ev.sandbox().sandbox().id() != id) continue;
    const auto* r = Ready(ev.sandbox().sandbox());
    if (!r) continue;
    if (r->status() == "True") {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
      ctx.TryCancel();
      if (c.json) {
        std::cout << "{\"id\":\"" << id << "\",\"ready_ms\":" << ms << "}\n";
      } else {
        std::cout << id << "\nready in " << ms << " ms\n";
      }
      return 0;
    }
    if (r->reason() != "Starting") {
      ctx.TryCancel();
      std::cerr << "sandbox " << id << " failed: " << r->reason() << ": " << r->message() << "\n";
      return 1;
    }
  }
  return RpcError("WatchSandboxes", reader->Finish());
}

int Create(Ctl& c, bool validate_only) {
  auto sandbox = SandboxFromArgs(c.args);
  if (!sandbox.ok()) return Usage(std::string(sandbox.status().message()));
  if (validate_only) {
    pb::ValidateSandboxCreateRequest req;
    *req.mutable_sandbox() = *sandbox;
    pb::ValidateSandboxCreateResponse resp;
    auto st = c.stub->ValidateSandboxCreate(c.Context().get(), req, &resp);
    if (!st.ok()) return RpcError("ValidateSandboxCreate", st);
    std::cout << (c.json ? "{\"valid\":true}" : "valid") << "\n";
    return 0;
  }
  pb::CreateSandboxRequest req;
  *req.mutable_sandbox() = *sandbox;
  pb::CreateSandboxResponse resp;
  auto started = Clock::now();
  auto st = c.stub->CreateSandbox(c.Context().get(), req, &resp);
  if (!st.ok()) return RpcError("CreateSandbox", st);
  if (c.args.Has("wait")) return WaitReady(c, sandbox->id(), started);
  std::cout << (c.json ? absl::StrCat("{\"id\":\"", sandbox->id(), "\"}") : sandbox->id()) << "\n";
  return 0;
}

int Watch(Ctl& c) {
  grpc::ClientContext ctx;
  auto reader = c.stub->WatchSandboxes(&ctx, pb::WatchSandboxesRequest());
  pb::WatchSandboxesEvent ev;
  while (reader->Read(&ev)) {
    if (c.json) {
      PrintJson(ev);
    } else if (ev.has_sandbox()) {
      const auto& s = ev.sandbox().sandbox();
      const auto* r = Main(s);
      std::cout << "sandbox " << s.id() << " (" << s.name() << "): " << StateOf(s)
                << (r && !r->message().empty() ? ": " + r->message() : "") << "\n";
    } else if (ev.has_deleted()) {
      std::cout << "deleted " << ev.deleted().sandbox_id() << "\n";
    } else if (ev.has_platform_event()) {
      const auto& e = ev.platform_event().event();
      std::cout << "event   " << ev.platform_event().sandbox_id() << " " << e.type() << " "
                << e.reason() << ": " << e.message() << "\n";
    }
    std::cout.flush();
  }
  auto st = reader->Finish();
  return st.ok() ? 0 : RpcError("WatchSandboxes", st);
}

template <typename Req, typename Resp>
int Lifecycle(Ctl& c, const std::string& rpc,
              grpc::Status (pb::ComputeDriver::Stub::*call)(grpc::ClientContext*, const Req&, Resp*)) {
  if (c.args.positional.size() != 2) return Usage(rpc + " needs a sandbox id");
  Req req;
  req.set_sandbox_id(c.args.positional[1]);
  Resp resp;
  // Connected first, so rpc_ms is the call alone, as a gateway with its
  // long-lived channel sees it (bench/ reads it).
  c.channel->WaitForConnected(std::chrono::system_clock::now() + c.timeout);
  auto started = Clock::now();
  auto st = (c.stub.get()->*call)(c.Context().get(), req, &resp);
  double rpc_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
  if (!st.ok()) return RpcError(rpc, st);
  if (c.json) {
    auto j = nlohmann::json::parse(JsonOf(resp), nullptr, false);
    if (!j.is_object()) j = nlohmann::json::object();
    j["rpc_ms"] = std::round(rpc_ms * 10) / 10;
    std::cout << j.dump() << "\n";
  } else {
    std::cout << "ok\n";
  }
  return 0;
}

int Dispatch(Ctl& c, const std::string& cmd) {
  if (cmd == "health") {
    auto h = CheckHealth(c.channel, "", c.timeout);
    if (!h.ok()) {
      std::cerr << h.status().message() << "\n";
      return 1;
    }
    std::cout << (c.json ? absl::StrCat("{\"status\":\"", HealthStatusName(*h), "\"}")
                         : HealthStatusName(*h))
              << "\n";
    return *h == HealthStatus::kServing ? 0 : 1;
  }
  if (cmd == "caps") {
    pb::GetCapabilitiesResponse resp;
    auto st = c.stub->GetCapabilities(c.Context().get(), {}, &resp);
    if (!st.ok()) return RpcError("GetCapabilities", st);
    if (c.json) {
      PrintJson(resp);
    } else {
      std::cout << "driver_name:               " << resp.driver_name() << "\n"
                << "driver_version:            " << resp.driver_version() << "\n"
                << "default_image:             " << resp.default_image() << "\n"
                << "gateway_manages_lifecycle: " << (resp.gateway_manages_lifecycle() ? "true" : "false")
                << "\n";
    }
    return 0;
  }
  if (cmd == "list") {
    pb::ListSandboxesResponse resp;
    auto st = c.stub->ListSandboxes(c.Context().get(), {}, &resp);
    if (!st.ok()) return RpcError("ListSandboxes", st);
    if (c.json) {
      PrintJson(resp);
    } else {
      PrintTable({resp.sandboxes().begin(), resp.sandboxes().end()});
    }
    return 0;
  }
  if (cmd == "get") {
    if (c.args.positional.size() != 2) return Usage("get needs a sandbox id");
    pb::GetSandboxRequest req;
    req.set_sandbox_id(c.args.positional[1]);
    pb::GetSandboxResponse resp;
    auto st = c.stub->GetSandbox(c.Context().get(), req, &resp);
    if (!st.ok()) return RpcError("GetSandbox", st);
    if (c.json) {
      PrintJson(resp.sandbox());
    } else {
      PrintTable({resp.sandbox()});
    }
    return 0;
  }
  if (cmd == "create") return Create(c, false);
  if (cmd == "validate") return Create(c, true);
  if (cmd == "stop") return Lifecycle(c, "StopSandbox", &pb::ComputeDriver::Stub::StopSandbox);
  if (cmd == "start") return Lifecycle(c, "StartSandbox", &pb::ComputeDriver::Stub::StartSandbox);
  if (cmd == "delete") return Lifecycle(c, "DeleteSandbox", &pb::ComputeDriver::Stub::DeleteSandbox);
  if (cmd == "watch") return Watch(c);
  return Usage("unknown command '" + cmd + "'");
}

}  // namespace

int CtlCommand(const std::vector<std::string>& argv) {
  auto args = ParseArgs(argv,
                        {"socket", "timeout", "id", "name", "image", "workspace", "env", "label",
                         "cpu", "memory", "file"},
                        {"json", "wait", "help"});
  if (!args.ok()) return Usage(std::string(args.status().message()));
  if (args->Has("help")) {
    std::cout << kUsage;
    return 0;
  }
  if (!args->Get("socket")) return Usage("--socket PATH is required");
  if (args->positional.empty()) return Usage("no command given");
  Ctl c;
  c.args = *args;
  c.json = args->Has("json");
  if (auto t = args->Get("timeout")) {
    auto d = ParseDuration(*t);
    if (!d.ok()) return Usage(absl::StrCat("--timeout: ", d.status().message()));
    c.timeout = *d;
  }
  c.channel = grpc::CreateChannel("unix://" + *args->Get("socket"), grpc::InsecureChannelCredentials());
  c.stub = pb::ComputeDriver::NewStub(c.channel);
  return Dispatch(c, args->positional[0]);
}

}  // namespace osgv
