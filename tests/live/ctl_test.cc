// `ctl` end to end: every verb through the real binary against a running
// driver, readable and --json output, gRPC errors, and `health` failing
// once the driver is gone.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "live_support.h"

using namespace osgv::live;

namespace {

std::vector<std::string> CtlArgv(const DriverProcess& d, std::vector<std::string> args) {
  std::vector<std::string> argv = {OSGV_DRIVER_BINARY, "ctl", "--socket", d.socket_path()};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

CommandOutput Ctl(const DriverProcess& d, std::vector<std::string> args) {
  return RunCommand(CtlArgv(d, std::move(args)));
}

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// `ctl --json ...` with stdout alone (stderr dropped), parsed; the exit
// code in `code`. A discarded value when stdout is not JSON.
nlohmann::json CtlJson(const DriverProcess& d, std::vector<std::string> args, int* code = nullptr) {
  args.insert(args.begin(), "--json");
  std::string cmd;
  for (const auto& a : CtlArgv(d, args)) cmd += Quote(a) + " ";
  auto r = RunCommand({"sh", "-c", cmd + "2>/dev/null"});
  if (code) *code = r.exit_code;
  return nlohmann::json::parse(r.out, nullptr, false);
}

// The status of the condition `type` in `ctl --json get` output, or "".
std::string ConditionStatus(const nlohmann::json& sandbox, const std::string& type) {
  if (!sandbox.is_object() || !sandbox.contains("status")) return "";
  for (const auto& c : sandbox["status"].value("conditions", nlohmann::json::array())) {
    if (c.value("type", "") == type) return c.value("status", "");
  }
  return "";
}

// Polls `ctl --json get ID` until condition `type` is True.
bool WaitCondition(const DriverProcess& d, const std::string& id, const std::string& type) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  while (std::chrono::steady_clock::now() < deadline) {
    if (ConditionStatus(CtlJson(d, {"get", id}), type) == "True") return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return false;
}

std::string ReadAll(const std::string& path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// `ctl watch` in the background, its stdout in a file.
struct BackgroundWatch {
  pid_t pid = -1;
  std::string out_file;

  BackgroundWatch(const DriverProcess& d, const std::string& dir) {
    out_file = dir + "/watch.out";
    auto argv = CtlArgv(d, {"watch"});
    pid = fork();
    if (pid == 0) {
      int out = open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      dup2(out, 1);
      dup2(out, 2);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
  }
  ~BackgroundWatch() { Stop(); }

  bool WaitFor(const std::string& text) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      if (ReadAll(out_file).find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }
  // SIGINT, as a user's Ctrl-C; returns how it ended (128+N for a signal).
  int Stop() {
    if (pid <= 0) return -1;
    kill(pid, SIGINT);
    int status = 0;
    waitpid(pid, &status, 0);
    pid = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
};

}  // namespace

TEST_CASE("ctl drives every verb against a running driver", "[live][ctl]") {
  Driver d;
  const DriverProcess& p = d.process;
  const std::string image = BusyboxImage();
  std::string dir = MakeTempDir("ctl");

  // caps and health while serving.
  {
    auto caps = Ctl(p, {"caps"});
    INFO(caps.out);
    CHECK(caps.exit_code == 0);
    CHECK(caps.out.find("driver_name:") != std::string::npos);
    auto caps_json = CtlJson(p, {"caps"});
    REQUIRE(caps_json.is_object());
    CHECK(caps_json.contains("driver_name"));

    auto health = Ctl(p, {"health"});
    INFO(health.out);
    CHECK(health.exit_code == 0);
    CHECK(health.out == "SERVING\n");
    CHECK(CtlJson(p, {"health"}).value("status", "") == "SERVING");
  }

  // validate: a good request passes, a bad one prints the gRPC code and
  // message and exits non-zero.
  {
    auto good = Ctl(p, {"validate", "--name", "ok", "--image", image});
    INFO(good.out);
    CHECK(good.exit_code == 0);
    CHECK(good.out == "valid\n");
    auto bad = Ctl(p, {"validate", "--name", "bad", "--image", image, "--workspace", "Not_A_Label"});
    INFO(bad.out);
    CHECK(bad.exit_code != 0);
    CHECK(bad.out.find("ValidateSandboxCreate failed: INVALID_ARGUMENT: ") != std::string::npos);
    CHECK(bad.out.find("workspace") != std::string::npos);
  }

  BackgroundWatch watch(p, dir);
  // Let the stream open before anything happens that it should see.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));

  // create from flags, waiting until Ready.
  const std::string flag_id = "ctl-flags-" + std::to_string(getpid());
  {
    auto created = Ctl(p, {"create", "--id", flag_id, "--name", "ctlflags", "--image", image,
                           "--env", "CTL_ENV=from-flags", "--label", "team=live", "--wait"});
    INFO(created.out << p.Log());
    REQUIRE(created.exit_code == 0);
    CHECK(created.out.find("ready in") != std::string::npos);
    auto env = Exec(p, "ctlflags", {"sh", "-c", "echo $CTL_ENV"});
    CHECK(env.out == "from-flags\n");
  }

  // create from a JSON file in the proto's JSON mapping.
  const std::string file_id = "ctl-file-" + std::to_string(getpid());
  {
    nlohmann::json request = {
        {"id", file_id},
        {"name", "ctlfile"},
        {"workspace", "default"},
        {"spec", {{"environment", {{"CTL_ENV", "from-file"}}}, {"template", {{"image", image}}}}}};
    std::string file = dir + "/request.json";
    std::ofstream(file) << request.dump();
    int code = -1;
    auto created = CtlJson(p, {"create", "--file", file}, &code);
    CHECK(code == 0);
    CHECK(created.value("id", "") == file_id);
    REQUIRE(WaitCondition(p, file_id, "Ready"));
    CHECK(Exec(p, "ctlfile", {"sh", "-c", "echo $CTL_ENV"}).out == "from-file\n");

    std::ofstream(dir + "/broken.json") << "{\"id\": 12, nope";
    auto broken = Ctl(p, {"create", "--file", dir + "/broken.json"});
    CHECK(broken.exit_code != 0);
  }

  // list and get, as tables and as JSON.
  {
    auto list = Ctl(p, {"list"});
    INFO(list.out);
    CHECK(list.exit_code == 0);
    CHECK(list.out.find("ID") == 0);
    CHECK(list.out.find(flag_id) != std::string::npos);
    CHECK(list.out.find(file_id) != std::string::npos);
    auto list_json = CtlJson(p, {"list"});
    REQUIRE(list_json.is_object());
    CHECK(list_json["sandboxes"].size() == 2);

    auto get = Ctl(p, {"get", flag_id});
    INFO(get.out);
    CHECK(get.exit_code == 0);
    CHECK(get.out.find("Ready") != std::string::npos);
    auto get_json = CtlJson(p, {"get", flag_id});
    CHECK(get_json.value("id", "") == flag_id);
    CHECK(get_json.value("workspace", "") == "default");
    CHECK(ConditionStatus(get_json, "Ready") == "True");

    auto missing = Ctl(p, {"get", "no-such-sandbox"});
    CHECK(missing.exit_code != 0);
    CHECK(missing.out.find("GetSandbox failed: NOT_FOUND") != std::string::npos);
  }

  // stop checkpoints, start restores.
  {
    auto stopped = Ctl(p, {"stop", flag_id});
    INFO(stopped.out << p.Log());
    CHECK(stopped.exit_code == 0);
    REQUIRE(WaitCondition(p, flag_id, "Suspended"));
    CHECK(Ctl(p, {"get", flag_id}).out.find("Stopped") != std::string::npos);
    // --json: the RPC's own duration, which bench/ reads.
    int code = -1;
    auto started = CtlJson(p, {"start", flag_id}, &code);
    INFO(started.dump());
    CHECK(code == 0);
    REQUIRE(started.is_object());
    REQUIRE(started.contains("rpc_ms"));
    CHECK(started["rpc_ms"].get<double>() > 0);
    REQUIRE(WaitCondition(p, flag_id, "Ready"));
  }

  // delete both; the watch saw them come and go.
  for (const auto& id : {flag_id, file_id}) {
    auto deleted = Ctl(p, {"delete", id});
    INFO(deleted.out);
    CHECK(deleted.exit_code == 0);
  }
  CHECK(watch.WaitFor("deleted " + file_id));
  CHECK(watch.WaitFor("deleted " + flag_id));
  CHECK(watch.Stop() == 128 + SIGINT);
  std::string events = ReadAll(watch.out_file);
  INFO(events);
  CHECK(events.find("sandbox " + flag_id + " (ctlflags): Ready") != std::string::npos);
  CHECK(events.find("sandbox " + flag_id + " (ctlflags): Stopped") != std::string::npos);
  CHECK(events.find("sandbox " + file_id + " (ctlfile): Ready") != std::string::npos);
  CHECK(CtlJson(p, {"list"}).value("sandboxes", nlohmann::json::array()).empty());

  // Once the driver is gone, health is a failing liveness probe.
  d.process.Kill(SIGTERM);
  auto health = Ctl(p, {"--timeout", "2s", "health"});
  INFO(health.out);
  CHECK(health.exit_code != 0);
  CHECK(health.out.find("SERVING") == std::string::npos);
  auto caps = Ctl(p, {"--timeout", "2s", "caps"});
  CHECK(caps.exit_code != 0);
  CHECK(caps.out.find("GetCapabilities failed: ") != std::string::npos);
}

TEST_CASE("ctl --help lists every verb and bad usage exits 2", "[live][ctl]") {
  auto help = RunCommand({OSGV_DRIVER_BINARY, "ctl", "--help"});
  CHECK(help.exit_code == 0);
  for (const char* verb : {"caps", "health", "list", "get", "create", "validate", "stop", "start",
                           "delete", "watch"}) {
    CHECK(help.out.find(verb) != std::string::npos);
  }
  CHECK(RunCommand({OSGV_DRIVER_BINARY, "ctl", "health"}).exit_code == 2);  // no --socket
}

// Every command answers --help with its usage line and exit 0; a flag it
// does not know still exits 2.
TEST_CASE("every command answers --help with its usage", "[live][ctl]") {
  for (const char* command : {"serve", "exec", "run", "probe", "ctl"}) {
    auto help = RunCommand({OSGV_DRIVER_BINARY, command, "--help"});
    INFO(command << ": " << help.out);
    CHECK(help.exit_code == 0);
    CHECK(help.out.find("usage") != std::string::npos);
  }
  CHECK(RunCommand({OSGV_DRIVER_BINARY, "serve", "--no-such-flag"}).exit_code == 2);
  CHECK(RunCommand({OSGV_DRIVER_BINARY, "exec", "--no-such-flag"}).exit_code == 2);
}
