// `run` and `probe` end to end: the real binary, real runsc, and a check
// that nothing is left behind on the host afterwards.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "live_support.h"

using namespace osgv::live;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> Run(std::vector<std::string> args) {
  std::vector<std::string> argv = {OSGV_DRIVER_BINARY, "run"};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

std::set<std::string> RunStateDirs() {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/var/tmp", ec)) {
    if (e.path().filename().string().rfind("osgv-run-", 0) == 0) out.insert(e.path().string());
  }
  return out;
}

std::string ReadAll(const std::string& path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// Everything a run could leave: its state dir, a mount or a process naming
// it, a cgroup of its sandbox.
void RequireNothingLeft(const std::string& state_dir, const std::string& runsc_id) {
  INFO("state dir " << state_dir << ", runsc id " << runsc_id);
  CHECK_FALSE(fs::exists(state_dir));
  CHECK(ReadAll("/proc/self/mountinfo").find(state_dir) == std::string::npos);
  auto ps = RunCommand({"sh", "-c", "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '"});
  CHECK(ps.out.find(state_dir) == std::string::npos);
  if (!runsc_id.empty()) {
    CHECK(ps.out.find(runsc_id) == std::string::npos);
    CHECK_FALSE(fs::exists("/sys/fs/cgroup/memory/openshell-gvisor/" + runsc_id));
    CHECK_FALSE(fs::exists("/sys/fs/cgroup/pids/openshell-gvisor/" + runsc_id));
  }
}

// A `run` in the background, with the state dir and runsc id it made.
struct BackgroundRun {
  pid_t pid = -1;
  std::string state_dir;
  std::string runsc_id;
};

BackgroundRun StartRun(const std::vector<std::string>& argv) {
  auto before = RunStateDirs();
  BackgroundRun r;
  r.pid = fork();
  if (r.pid == 0) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  // Until the sandbox runs: its dir exists and runsc lists it as running.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    for (const auto& d : RunStateDirs()) {
      if (before.count(d)) continue;
      r.state_dir = d;
      std::error_code ec;
      for (const auto& e : fs::directory_iterator(d + "/sandboxes", ec)) {
        r.runsc_id = e.path().filename().string();
      }
    }
    if (!r.runsc_id.empty()) {
      auto list = RunCommand({"runsc", "--root=" + r.state_dir + "/runsc", "list", "--format=json"});
      if (list.out.find("\"running\"") != std::string::npos) return r;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  FAIL("run did not start a sandbox within 60s");
  return r;
}

// The rows of probe's table: probe name -> RESULT column. Only lines that
// have the table's shape count; anything else the binary printed (a log
// line, the summary) is not a row.
std::map<std::string, std::string> ProbeRows(const std::string& out) {
  static const std::regex row(R"(^([a-z0-9_]+) {2,}.+? {2,}(PASS|FAIL|SKIP)  .*$)");
  std::map<std::string, std::string> rows;
  std::istringstream lines(out);
  std::smatch m;
  for (std::string line; std::getline(lines, line);) {
    if (std::regex_match(line, m, row)) rows[m[1]] = m[2];
  }
  return rows;
}

// The whole lines of every row that did not pass, so that a failure shows
// them first and whole, however long the rest of the output is.
std::string RowsNotPassing(const std::string& out) {
  std::string failing;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    auto one = ProbeRows(line);
    if (!one.empty() && one.begin()->second != "PASS") failing += line + "\n";
  }
  return failing;
}

// An image with no program at all, only /etc/passwd and /etc/group: no
// shell, no uname, no sleep, no /tmp. Whatever runs in it was brought in.
std::string BareImage() {
  std::string dir = MakeTempDir("probe-bare");
  fs::create_directories(dir + "/src/etc");
  // Last in the layer: this umoci ends the tar stream without padding the
  // last file's data, which libarchive refuses; after a directory it is fine.
  fs::create_directories(dir + "/src/var/empty");
  { std::ofstream(dir + "/src/etc/passwd") << "root:x:0:0:root:/:/nonexistent\n"; }
  { std::ofstream(dir + "/src/etc/group") << "root:x:0:\n"; }
  const std::string layout = dir + "/layout";
  for (const auto& argv : std::vector<std::vector<std::string>>{
           {"umoci", "init", "--layout", layout},
           {"umoci", "new", "--image", layout + ":base"},
           {"umoci", "insert", "--image", layout + ":base", dir + "/src", "/"},
           {"umoci", "config", "--image", layout + ":base", "--tag", "v1", "--config.cmd", "/none"}}) {
    auto r = RunCommand(argv);
    INFO(argv[1] << ": " << r.out);
    REQUIRE(r.exit_code == 0);
  }
  return "oci:" + layout + ":v1";
}

int WaitExit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

TEST_CASE("run exits with the command's exit code", "[live][run]") {
  auto r = RunCommand(Run({"--", "sh", "-c", "exit 7"}));
  INFO(r.out);
  CHECK(r.exit_code == 7);
  CHECK(RunCommand(Run({"--", "true"})).exit_code == 0);
}

TEST_CASE("run passes stdin and stdout through", "[live][run]") {
  auto r = RunCommand(Run({"--", "cat"}), "hi from the host\n");
  CHECK(r.exit_code == 0);
  CHECK(r.out == "hi from the host\n");
}

TEST_CASE("run reports a command killed by signal N as 128+N", "[live][run]") {
  auto r = RunCommand(Run({"--", "sh", "-c", "kill -9 $$"}));
  INFO(r.out);
  CHECK(r.exit_code == 137);
}

TEST_CASE("run leaves no container state dir mount or cgroup behind", "[live][run]") {
  auto run = StartRun(Run({"--", "sh", "-c", "sleep 2; exit 3"}));
  CHECK(WaitExit(run.pid) == 3);
  RequireNothingLeft(run.state_dir, run.runsc_id);
}

TEST_CASE("SIGTERM during run cleans up and exits 143", "[live][run]") {
  auto run = StartRun(Run({"--", "sleep", "100"}));
  auto t0 = std::chrono::steady_clock::now();
  kill(run.pid, SIGTERM);
  CHECK(WaitExit(run.pid) == 143);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(20));
  RequireNothingLeft(run.state_dir, run.runsc_id);
}

TEST_CASE("a host path that is not mounted is not there for the command", "[live][run]") {
  std::string dir = MakeTempDir("run-host");
  { std::ofstream(dir + "/secret") << "host-only\n"; }
  auto r = RunCommand(Run({"--", "cat", dir + "/secret"}));
  INFO(r.out);
  CHECK(r.exit_code == 1);
  CHECK(r.out.find("cat: can't open") != std::string::npos);
  CHECK(r.out.find("host-only") == std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("run --mount binds a host dir read-only", "[live][run]") {
  std::string dir = MakeTempDir("run-mount");
  { std::ofstream(dir + "/f") << "shared-in\n"; }
  auto r = RunCommand(Run({"--mount", dir + ":/data:ro", "--", "sh", "-c",
                           "cat /data/f; echo x > /data/g && echo wrote"}));
  INFO(r.out);
  CHECK(r.out.find("shared-in") != std::string::npos);
  CHECK(r.out.find("wrote") == std::string::npos);
  CHECK(r.exit_code != 0);
  CHECK_FALSE(fs::exists(dir + "/g"));

  auto bad = RunCommand(Run({"--mount", dir + "/absent:/data", "--", "true"}));
  CHECK(bad.exit_code == 2);
  CHECK(bad.out.find("No such file") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("probe passes every boundary probe", "[live][probe]") {
  auto r = RunCommand({OSGV_DRIVER_BINARY, "probe"});
  CHECK(RowsNotPassing(r.out) == "");
  INFO(r.out);
  CHECK(ProbeRows(r.out).size() >= 20);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find(" probes passed") != std::string::npos);
}

TEST_CASE("probe --json lists at least 20 passing probes", "[live][probe]") {
  auto before = RunStateDirs();
  std::string out_file = MakeTempDir("probe") + "/out.json";
  auto r = RunCommand({"sh", "-c", std::string(OSGV_DRIVER_BINARY) + " probe --json > " + out_file});
  std::string text = ReadAll(out_file);
  INFO(r.out << text);
  CHECK(r.exit_code == 0);
  auto j = nlohmann::json::parse(text, nullptr, false);
  REQUIRE(j.is_array());
  CHECK(j.size() >= 20);
  for (const auto& row : j) {
    INFO(row.dump());
    CHECK(row.at("pass") == true);
  }
  CHECK(RunStateDirs() == before);
  fs::remove_all(fs::path(out_file).parent_path());
}

TEST_CASE("probe passes with network mode sandbox too", "[live][probe]") {
  auto r = RunCommand({OSGV_DRIVER_BINARY, "probe", "--network", "sandbox"});
  CHECK(RowsNotPassing(r.out) == "");
  INFO(r.out);
  CHECK(ProbeRows(r.out).size() >= 20);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("network mode sandbox") != std::string::npos);
}

TEST_CASE("run --network sandbox gives the command an address on the bridge", "[live][run]") {
  auto r = RunCommand(Run({"--network", "sandbox", "--", "sh", "-c", "ip -4 addr | grep -c 'inet 10\\.'"}));
  INFO(r.out);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "1\n");
}

// The probes can fail: the sentinel's directory, shared into every probe
// sandbox at the same path with --mount, is the leak they must catch.
TEST_CASE("probe fails and names the rows when the sentinel dir is mounted in", "[live][probe]") {
  std::string fixtures = MakeTempDir("probe-weak");
  std::string out_dir = MakeTempDir("probe-weak-out");
  std::string out_file = out_dir + "/out.json";
  auto r = RunCommand({"sh", "-c",
                       std::string(OSGV_DRIVER_BINARY) + " probe --json --fixtures-dir " + fixtures +
                           " --mount " + fixtures + ":" + fixtures + ":ro > " + out_file});
  std::string text = ReadAll(out_file);
  INFO(r.out << text);
  CHECK(r.exit_code == 1);
  auto j = nlohmann::json::parse(text, nullptr, false);
  REQUIRE(j.is_array());
  std::map<std::string, bool> pass;
  for (const auto& row : j) pass[row.at("probe").get<std::string>()] = row.at("pass").get<bool>();
  REQUIRE(pass.count("host_file_by_path") == 1);
  CHECK_FALSE(pass["host_file_by_path"]);
  CHECK_FALSE(pass["host_file_via_symlink"]);
  CHECK_FALSE(pass["host_file_via_dotdot"]);
  CHECK_FALSE(pass["host_mounts_invisible"]);  // the mount names the host dir
  // Rows that have nothing to do with the mount still pass.
  CHECK(pass["kernel_is_gvisor"]);
  CHECK(pass["host_process_invisible"]);
  CHECK(pass["host_loopback_unreachable"]);
  // stderr says the configuration was weakened and which rows failed.
  CHECK(r.out.find("WEAKENED configuration") != std::string::npos);
  CHECK(r.out.find("FAILED: host_file_by_path") != std::string::npos);
  // The sentinel is gone again; the caller's directory stays.
  CHECK(fs::exists(fixtures));
  CHECK_FALSE(fs::exists(fixtures + "/sentinel"));
  fs::remove_all(fixtures);
  fs::remove_all(out_dir);
}

// Issue 14: on an image without uname the probe reported kernel_is_gvisor
// FAIL ("error finding executable uname"), a leak it never saw. The probes
// now run the host's busybox-static, brought in read-only, so an image with
// no program at all gets a full, passing run.
TEST_CASE("probe runs every probe on an image with no tools, with the busybox it brings",
          "[live][probe]") {
  auto r = RunCommand({OSGV_DRIVER_BINARY, "probe", "--image", BareImage()});
  CHECK(RowsNotPassing(r.out) == "");
  INFO(r.out);
  auto result = ProbeRows(r.out);
  CHECK(result.size() >= 20);
  CHECK(result["kernel_is_gvisor"] == "PASS");
  CHECK(result["passwd_is_images"] == "PASS");  // the image's own file, not busybox's
  CHECK(r.out.find("could not run") == std::string::npos);
  CHECK(r.out.find("tools from host /usr/bin/busybox at /.osgv-probe/busybox") != std::string::npos);
  CHECK(r.exit_code == 0);
}

TEST_CASE("probe refuses a --mount onto its tools dir", "[live][probe]") {
  std::string dir = MakeTempDir("probe-tools-mount");
  auto r = RunCommand({OSGV_DRIVER_BINARY, "probe", "--mount", dir + ":/.osgv-probe/busybox:ro"});
  INFO(r.out);
  CHECK(r.exit_code == 2);
  CHECK(r.out.find("is reserved for probe's own tools") != std::string::npos);
  fs::remove_all(dir);
}
