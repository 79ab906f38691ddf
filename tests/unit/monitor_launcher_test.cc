// The warm-monitor hand-over (monitor_launcher.cc) and how a restarted
// driver recognises a monitor (IsMonitorOf), with a shell script standing
// in for the driver's binary: no runsc, no root.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "lifecycle/monitor/monitor.h"
#include "unit/temp_dir.h"

namespace osgv {
namespace {

using namespace std::chrono_literals;

// Called as `<script> monitor --status-fd 3 --go-fd 4`, like the real
// binary. It logs "<pid> up" once loaded, then waits for the spec path;
// the spec's directory holds "reply", the status line to report.
constexpr char kStandIn[] = R"(#!/bin/sh
log="$(dirname "$0")/events"
echo "$$ up $*" >>"$log"
IFS= read -r spec <&4 || { echo "$$ eof" >>"$log"; exit 0; }
echo "$$ got $spec" >>"$log"
cat "$(dirname "$spec")/reply" >&3
exec 3>&-
sleep 0.2
)";

struct StandIn {
  testing::TempDir dir;
  std::string script = dir / "stand-in";
  std::string sandbox = dir.Dir("sandbox");

  StandIn() {
    std::ofstream(script) << kStandIn;
    std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  }
  void Reply(const std::string& line) { std::ofstream(sandbox + "/reply") << line << "\n"; }
  std::vector<std::string> Events() const {
    std::ifstream in(dir / "events");
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    return lines;
  }
  // Waits until `n` events are logged (the stand-in runs asynchronously).
  std::vector<std::string> WaitEvents(size_t n) const {
    for (int i = 0; i < 250 && Events().size() < n; ++i) std::this_thread::sleep_for(20ms);
    return Events();
  }
  MonitorSpec Spec() const {
    MonitorSpec s;
    s.container_id = "osgv-test";
    s.bundle = sandbox + "/bundle";
    s.log_file = sandbox + "/monitor.log";
    return s;
  }
};

int PidOf(const std::string& event) { return std::stoi(event.substr(0, event.find(' '))); }

TEST_CASE("Launch hands the sandbox to the monitor primed ahead and primes the next",
          "[monitor]") {
  StandIn s;
  s.Reply(R"({"ok":true,"pid":4242,"runsc_ms":12.5})");
  ProcessMonitorLauncher launcher(s.script, 2000ms);
  REQUIRE(launcher.Prime().ok());
  auto events = s.WaitEvents(1);
  REQUIRE(events.size() == 1);
  CHECK(events[0].find(" up monitor --status-fd 3 --go-fd 4") != std::string::npos);
  const int warm = PidOf(events[0]);

  auto handle = launcher.Launch(s.Spec(), s.sandbox + "/monitor.json");
  REQUIRE(handle.ok());
  CHECK(handle->monitor_pid == warm);
  CHECK(handle->sandbox_pid == 4242);
  CHECK(handle->runsc_ms == 12.5);
  CHECK(std::filesystem::exists(s.sandbox + "/monitor.json"));  // the spec it was handed

  events = s.WaitEvents(3);
  REQUIRE(events.size() == 3);
  CHECK(events[1] == std::to_string(warm) + " got " + s.sandbox + "/monitor.json");
  // The replacement loads after the hand-over, off the launch's path.
  CHECK(events[2].find(" up ") != std::string::npos);
  CHECK(PidOf(events[2]) != warm);
  waitpid(warm, nullptr, 0);
}

TEST_CASE("Launch starts a fresh monitor when the warm one has died", "[monitor]") {
  StandIn s;
  s.Reply(R"({"ok":true,"pid":7})");
  ProcessMonitorLauncher launcher(s.script, 2000ms);
  REQUIRE(launcher.Prime().ok());
  auto events = s.WaitEvents(1);
  REQUIRE(events.size() == 1);
  const int warm = PidOf(events[0]);
  kill(warm, SIGKILL);
  // Not reaped by us: the launcher owns it and reaps it when the hand-over fails.
  std::this_thread::sleep_for(100ms);

  auto handle = launcher.Launch(s.Spec(), s.sandbox + "/monitor.json");
  REQUIRE(handle.ok());
  CHECK(handle->monitor_pid != warm);
  CHECK(handle->sandbox_pid == 7);
  CHECK(kill(warm, 0) != 0);  // reaped, not left a zombie
  waitpid(handle->monitor_pid, nullptr, 0);
}

TEST_CASE("Launch maps a failed create to FAILED_PRECONDITION and a failed start to ABORTED",
          "[monitor]") {
  StandIn s;
  ProcessMonitorLauncher launcher(s.script, 2000ms);
  s.Reply(R"({"ok":false,"step":"create","error":"create: bad bundle"})");
  auto created = launcher.Launch(s.Spec(), s.sandbox + "/monitor.json");
  REQUIRE_FALSE(created.ok());
  CHECK(absl::IsFailedPrecondition(created.status()));
  CHECK(created.status().message() == "create: bad bundle");

  s.Reply(R"({"ok":false,"step":"restore","error":"restore: corrupt"})");
  auto restored = launcher.Launch(s.Spec(), s.sandbox + "/monitor.json");
  REQUIRE_FALSE(restored.ok());
  CHECK(absl::IsAborted(restored.status()));
}

TEST_CASE("a warm monitor ends when its launcher goes away", "[monitor]") {
  StandIn s;
  {
    ProcessMonitorLauncher launcher(s.script, 2000ms);
    REQUIRE(launcher.Prime().ok());
    REQUIRE(s.WaitEvents(1).size() == 1);
  }
  // The destructor closed the socket and reaped it.
  auto events = s.Events();
  REQUIRE(events.size() == 2);
  CHECK(events[1] == std::to_string(PidOf(events[0])) + " eof");
}

TEST_CASE("IsMonitorOf needs both the sandbox directory and a monitor argv", "[monitor]") {
  testing::TempDir dir;
  std::string mine = dir.Dir("osgv-a");
  std::string other = dir.Dir("osgv-b");
  auto spawn = [](const std::string& cwd, const char* role) {
    pid_t pid = fork();
    if (pid == 0) {
      if (chdir(cwd.c_str()) != 0) _exit(1);
      execl("/bin/sh", "sh", "-c", "sleep 5", role, static_cast<char*>(nullptr));
      _exit(127);
    }
    return pid;
  };
  pid_t monitor = spawn(mine, "monitor");
  pid_t stranger = spawn(mine, "not-a-monitor");
  std::this_thread::sleep_for(200ms);  // past the chdir and exec

  CHECK(IsMonitorOf(monitor, mine));
  CHECK_FALSE(IsMonitorOf(monitor, other));       // another sandbox's
  CHECK_FALSE(IsMonitorOf(stranger, mine));       // a reused pid
  CHECK_FALSE(IsMonitorOf(monitor, dir / "gone"));

  for (pid_t p : {monitor, stranger}) {
    kill(p, SIGKILL);
    waitpid(p, nullptr, 0);
  }
  CHECK_FALSE(IsMonitorOf(monitor, mine));  // dead
}

}  // namespace
}  // namespace osgv
