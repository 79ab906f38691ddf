#include "live_support.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "lifecycle/image/busybox_image.h"
#include "lifecycle/runsc/command_runner.h"

namespace osgv::live {
namespace fs = std::filesystem;

CommandOutput RunCommand(const std::vector<std::string>& argv, const std::string& stdin_text) {
  std::string out_path = MakeTempDir("cmd") + "/out";
  std::string in_path = out_path + ".in";
  { std::ofstream(in_path) << stdin_text; }
  pid_t pid = fork();
  if (pid == 0) {
    int in = open(in_path.c_str(), O_RDONLY);
    int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(in, 0);
    dup2(out, 1);
    dup2(out, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CommandOutput r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::ifstream f(out_path);
  std::stringstream ss;
  ss << f.rdbuf();
  r.out = ss.str();
  fs::remove_all(fs::path(out_path).parent_path());
  return r;
}

namespace {
std::mutex temp_dirs_mu;
std::vector<std::string> temp_dirs;
}  // namespace

std::string MakeTempDir(const std::string& prefix) {
  std::string tmpl = "/tmp/osgv-live-" + prefix + "-XXXXXX";
  char* d = mkdtemp(tmpl.data());
  if (d == nullptr) return "";
  std::lock_guard<std::mutex> lock(temp_dirs_mu);
  temp_dirs.emplace_back(d);
  return d;
}

void RemoveTempDirs() {
  std::ifstream f("/proc/self/mountinfo");
  std::string mounts((std::istreambuf_iterator<char>(f)), {});
  std::lock_guard<std::mutex> lock(temp_dirs_mu);
  for (const auto& dir : temp_dirs) {
    // Something still mounted below (a sandbox a failed test left behind):
    // removing files through the mount could reach what it shows.
    if (mounts.find(" " + dir + "/") != std::string::npos) {
      std::cerr << "kept " << dir << ": something is still mounted under it\n";
      continue;
    }
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  temp_dirs.clear();
}

const std::string& BusyboxImage() {
  static std::once_flag once;
  static std::string ref;
  std::call_once(once, [] {
    // The driver's own recipe (run and probe use it), in a private cache.
    ProcessRunner runner;
    auto built = EnsureBusyboxImage(&runner, MakeTempDir("image"));
    if (!built.ok()) throw std::runtime_error(std::string(built.status().message()));
    ref = *built;
  });
  return ref;
}

namespace {

// Requests may name oci: layouts only under images.oci_roots. Every layout
// the tests make is under /tmp (MakeTempDir); the driver's state dir there
// stays refused all the same. Merged into a test's own `images:` section
// when it has one (a YAML key may not appear twice).
std::string WithOciRoots(std::string yaml) {
  const std::string roots = "  oci_roots: [\"/tmp\"]\n";
  size_t section = yaml.rfind("images:\n", 0) == 0 ? 0 : yaml.find("\nimages:\n");
  if (section == std::string::npos) {
    if (!yaml.empty() && yaml.back() != '\n') yaml += '\n';
    return yaml + "images:\n" + roots;
  }
  size_t body = yaml.find('\n', section == 0 ? 0 : section + 1) + 1;
  return yaml.insert(body, roots);
}

}  // namespace

DriverProcess::DriverProcess(std::string state_dir, std::string config_yaml) {
  dir_ = MakeTempDir("driver");
  owns_state_ = state_dir.empty();
  state_dir_ = owns_state_ ? dir_ + "/state" : state_dir;
  socket_ = dir_ + "/run/gvisor.sock";
  log_path_ = dir_ + "/driver.log";
  config_path_ = dir_ + "/driver.yaml";
  std::ofstream(config_path_) << WithOciRoots(std::move(config_yaml));
}

DriverProcess::~DriverProcess() {
  if (pid_ > 0) Kill(SIGTERM);
  if (!owns_state_) return;  // a test sharing a state dir cleans it up itself
  // The driver leaves sandboxes running by design; a test that failed
  // half-way must not leave them burning CPU for every later test.
  for (const auto& id : RunscList(state_dir_)) {
    RunCommand({"runsc", "--root=" + state_dir_ + "/runsc", "delete", "--force", id});
  }
  RunCommand({"sh", "-c", "grep -o ' " + state_dir_ + "/[^ ]*' /proc/self/mountinfo | "
                          "xargs -r -n1 umount -l"});
}

void DriverProcess::Start() {
  std::vector<std::string> argv = {OSGV_DRIVER_BINARY, "serve", "--socket", socket_,
                                   "--state-dir", state_dir_, "--log-level", "debug"};
  if (!config_path_.empty()) {
    argv.push_back("--config");
    argv.push_back(config_path_);
  }
  pid_ = fork();
  if (pid_ == 0) {
    int log = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    dup2(log, 1);
    dup2(log, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
}

void DriverProcess::Kill(int signal) {
  if (pid_ <= 0) return;
  kill(pid_, signal);
  Wait();
}

int DriverProcess::Wait() {
  int status = 0;
  if (pid_ > 0) waitpid(pid_, &status, 0);
  pid_ = -1;
  return status;
}

bool DriverProcess::WaitForSocket(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto stub = Stub();
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    pb::ListSandboxesRequest req;
    pb::ListSandboxesResponse resp;
    if (stub->ListSandboxes(&ctx, req, &resp).ok()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

std::shared_ptr<grpc::Channel> DriverProcess::Channel() {
  return grpc::CreateChannel("unix://" + socket_, grpc::InsecureChannelCredentials());
}

std::unique_ptr<pb::ComputeDriver::Stub> DriverProcess::Stub() {
  return pb::ComputeDriver::NewStub(Channel());
}

std::string DriverProcess::Log() const {
  std::ifstream f(log_path_);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

pb::DriverSandbox NewSandbox(const std::string& name, const std::vector<std::string>& command) {
  static int counter = 0;
  pb::DriverSandbox s;
  s.set_id("live-" + std::to_string(getpid()) + "-" + std::to_string(++counter) + "-" + name);
  s.set_name(name);
  s.set_workspace("default");
  auto* spec = s.mutable_spec();
  spec->mutable_template_()->set_image(BusyboxImage());
  for (const auto& c : command) spec->add_command(c);
  return s;
}

const pb::DriverCondition* ReadyCondition(const pb::DriverSandbox& s) {
  for (const auto& c : s.status().conditions()) {
    if (c.type() == "Ready") return &c;
  }
  return nullptr;
}

bool IsReady(const pb::DriverSandbox& s) {
  auto* c = ReadyCondition(s);
  return c && c->status() == "True";
}

std::optional<pb::DriverSandbox> WaitForReadyReason(pb::ComputeDriver::Stub* stub,
                                                    const std::string& id,
                                                    const std::string& reason,
                                                    std::chrono::milliseconds timeout) {
  return WaitForSandbox(
      stub, id,
      [&](const pb::DriverSandbox& s) {
        auto* c = ReadyCondition(s);
        return c && c->reason() == reason;
      },
      timeout);
}

std::optional<pb::DriverSandbox> WaitForSandbox(
    pb::ComputeDriver::Stub* stub, const std::string& id,
    const std::function<bool(const pb::DriverSandbox&)>& pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::optional<pb::DriverSandbox> last;
  while (std::chrono::steady_clock::now() < deadline) {
    grpc::ClientContext ctx;
    pb::GetSandboxRequest req;
    req.set_sandbox_id(id);
    pb::GetSandboxResponse resp;
    if (stub->GetSandbox(&ctx, req, &resp).ok()) {
      last = resp.sandbox();
      if (pred(*last)) return last;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return std::nullopt;
}

CommandOutput Exec(const DriverProcess& driver, const std::string& sandbox,
                   const std::vector<std::string>& argv) {
  std::vector<std::string> cmd = {OSGV_DRIVER_BINARY, "exec", "--state-dir", driver.state_dir(),
                                  "--no-tty", sandbox, "--"};
  cmd.insert(cmd.end(), argv.begin(), argv.end());
  return RunCommand(cmd);
}

std::vector<std::string> RunscList(const std::string& state_dir) {
  auto r = RunCommand({"runsc", "--root=" + state_dir + "/runsc", "list", "--format=json"});
  std::vector<std::string> ids;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (j.is_array()) {
    for (const auto& c : j) ids.push_back(c.value("id", ""));
  }
  return ids;
}

Driver::Driver(std::string state_dir, std::string yaml)
      : process(std::move(state_dir), std::move(yaml)) {
    process.Start();
    REQUIRE(process.WaitForSocket(std::chrono::seconds(30)));
    stub = process.Stub();
}

grpc::Status Create(pb::ComputeDriver::Stub* stub, const pb::DriverSandbox& s) {
  grpc::ClientContext ctx;
  pb::CreateSandboxRequest req;
  *req.mutable_sandbox() = s;
  pb::CreateSandboxResponse resp;
  return stub->CreateSandbox(&ctx, req, &resp);
}

grpc::Status Delete(pb::ComputeDriver::Stub* stub, const std::string& id, bool* deleted) {
  grpc::ClientContext ctx;
  pb::DeleteSandboxRequest req;
  req.set_sandbox_id(id);
  pb::DeleteSandboxResponse resp;
  auto st = stub->DeleteSandbox(&ctx, req, &resp);
  if (deleted) *deleted = resp.deleted();
  return st;
}

pb::DriverSandbox WaitReady(pb::ComputeDriver::Stub* stub, const std::string& id) {
  auto s = WaitForSandbox(stub, id, [](const pb::DriverSandbox& sb) {
    auto* c = ReadyCondition(sb);
    return c && (c->status() == "True" || c->reason() != "Starting");
  });
  REQUIRE(s.has_value());
  INFO("Ready condition: " << ReadyCondition(*s)->reason() << ": " << ReadyCondition(*s)->message());
  REQUIRE(IsReady(*s));
  return *s;
}

grpc::Status Stop(pb::ComputeDriver::Stub* stub, const std::string& id) {
  grpc::ClientContext ctx;
  pb::StopSandboxRequest req;
  req.set_sandbox_id(id);
  pb::StopSandboxResponse resp;
  return stub->StopSandbox(&ctx, req, &resp);
}

grpc::Status Start(pb::ComputeDriver::Stub* stub, const std::string& id) {
  grpc::ClientContext ctx;
  pb::StartSandboxRequest req;
  req.set_sandbox_id(id);
  pb::StartSandboxResponse resp;
  return stub->StartSandbox(&ctx, req, &resp);
}

const pb::DriverCondition* SuspendedCondition(const pb::DriverSandbox& s) {
  for (const auto& c : s.status().conditions()) {
    if (c.type() == "Suspended") return &c;
  }
  return nullptr;
}

pb::DriverSandbox WaitSuspended(pb::ComputeDriver::Stub* stub, const std::string& id) {
  auto s = WaitForSandbox(stub, id, [](const pb::DriverSandbox& x) {
    auto* c = SuspendedCondition(x);
    return c && c->status() == "True";
  });
  REQUIRE(s.has_value());
  return *s;
}

}  // namespace osgv::live
