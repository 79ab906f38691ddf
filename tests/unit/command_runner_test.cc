#include "temp_dir.h"
#include "lifecycle/runsc/command_runner.h"
#include "lifecycle/runsc/tool_paths.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace osgv {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A pipe whose ends close at scope exit.
struct Pipe {
  int r = -1, w = -1;
  Pipe() {
    int fds[2];
    REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
    r = fds[0];
    w = fds[1];
  }
  ~Pipe() {
    CloseRead();
    CloseWrite();
  }
  void CloseRead() {
    if (r >= 0) close(r);
    r = -1;
  }
  void CloseWrite() {
    if (w >= 0) close(w);
    w = -1;
  }
  // Everything until EOF (close the write end first).
  std::string ReadAll() {
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = read(r, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    return out;
  }
};

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Command Cmd(std::vector<std::string> argv, milliseconds timeout = milliseconds(10000)) {
  Command c;
  c.argv = std::move(argv);
  c.timeout = timeout;
  return c;
}

CommandResult MustRun(const Command& c) {
  ProcessRunner runner;
  auto r = runner.Run(c);
  REQUIRE(r.ok());
  return *r;
}

// True once `pid` is gone or a zombie (killed, not yet reaped by init).
bool ProcessDead(pid_t pid) {
  if (kill(pid, 0) != 0 && errno == ESRCH) return true;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;
  auto close_paren = line.rfind(')');
  return close_paren != std::string::npos && close_paren + 2 < line.size() &&
         (line[close_paren + 2] == 'Z' || line[close_paren + 2] == 'X');
}

bool EventuallyDead(pid_t pid) {
  auto until = Clock::now() + milliseconds(3000);
  while (Clock::now() < until) {
    if (ProcessDead(pid)) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return ProcessDead(pid);
}

TEST_CASE("stdout and stderr are captured separately", "[runner]") {
  auto r = MustRun(Cmd({"sh", "-c", "echo out; echo err >&2; echo more"}));
  CHECK(r.stdout_text == "out\nmore\n");
  CHECK(r.stderr_text == "err\n");
  CHECK(r.exit_code == 0);
  CHECK(r.signal == 0);
  CHECK_FALSE(r.timed_out);
  CHECK(r.ok());
}

TEST_CASE("the exit code is reported and is not an error", "[runner]") {
  auto r = MustRun(Cmd({"sh", "-c", "echo bad >&2; exit 3"}));
  CHECK(r.exit_code == 3);
  CHECK(r.signal == 0);
  CHECK_FALSE(r.timed_out);
  CHECK_FALSE(r.ok());
  CHECK(r.stderr_text == "bad\n");
  CHECK(r.Describe() == "exit code 3: bad");
}

TEST_CASE("a child killed by a signal reports it", "[runner]") {
  SECTION("SIGKILL") {
    auto r = MustRun(Cmd({"sh", "-c", "kill -9 $$"}));
    CHECK(r.signal == 9);
    CHECK_FALSE(r.timed_out);
    CHECK_FALSE(r.ok());
    CHECK_THAT(r.Describe(), Catch::StartsWith("killed by signal 9"));
  }
  SECTION("SIGTERM") {
    auto r = MustRun(Cmd({"sh", "-c", "kill -TERM $$"}));
    CHECK(r.signal == SIGTERM);
    CHECK_FALSE(r.ok());
  }
}

TEST_CASE("a timeout kills the child within the deadline", "[runner][timeout]") {
  auto start = Clock::now();
  auto r = MustRun(Cmd({"sleep", "30"}, milliseconds(300)));
  auto took = Clock::now() - start;
  CHECK(r.timed_out);
  CHECK_FALSE(r.ok());
  CHECK(took >= milliseconds(250));
  CHECK(took < milliseconds(5000));
  CHECK_THAT(r.stderr_text, Catch::Contains("timed out after 300ms"));
  CHECK_THAT(r.stderr_text, Catch::Contains("sleep 30"));
  CHECK_THAT(r.Describe(), Catch::StartsWith("timed out"));
}

TEST_CASE("a timeout kills the whole process group", "[runner][timeout]") {
  TempDir dir;
  const std::string pidfile = dir.path() + "/bg.pid";
  auto start = Clock::now();
  auto r = MustRun(Cmd({"sh", "-c", "sleep 30 & echo $! > '" + pidfile + "'; sleep 30"},
                       milliseconds(500)));
  CHECK(Clock::now() - start < milliseconds(5000));
  CHECK(r.timed_out);
  std::string text = Slurp(pidfile);
  REQUIRE(!text.empty());
  pid_t bg = static_cast<pid_t>(std::stol(text));
  REQUIRE(bg > 1);
  CHECK(EventuallyDead(bg));
  if (!ProcessDead(bg)) kill(bg, SIGKILL);  // don't leak it if the check failed
}

TEST_CASE("a timeout is enforced for passthrough commands too", "[runner][timeout]") {
  TempDir dir;
  int fd = open((dir.path() + "/out").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  Command c = Cmd({"sleep", "30"}, milliseconds(300));
  c.stdout_fd = fd;
  c.stderr_fd = fd;
  auto start = Clock::now();
  auto r = MustRun(c);
  close(fd);
  CHECK(r.timed_out);
  CHECK(Clock::now() - start < milliseconds(5000));
}

TEST_CASE("a timeout without a process group still kills the child", "[runner][timeout]") {
  Command c = Cmd({"sleep", "30"}, milliseconds(300));
  c.own_process_group = false;
  auto start = Clock::now();
  auto r = MustRun(c);
  CHECK(r.timed_out);
  CHECK(Clock::now() - start < milliseconds(5000));
}

// Waits (polling, bounded) until `path` holds a pid: the child got that far.
pid_t WaitForPidFile(const std::string& path) {
  auto until = Clock::now() + milliseconds(10000);
  while (Clock::now() < until) {
    std::string text = Slurp(path);
    if (!text.empty() && text.back() == '\n') return static_cast<pid_t>(std::stol(text));
    std::this_thread::sleep_for(milliseconds(10));
  }
  return 0;
}

TEST_CASE("AbandonAll kills a running command's whole process group", "[runner][abandon]") {
  TempDir dir;
  const std::string pidfile = dir.path() + "/bg.pid";
  ProcessRunner runner;
  absl::StatusOr<CommandResult> result;
  // An hour-long timeout: only the abandon can end it.
  std::thread call([&] {
    result = runner.Run(Cmd({"sh", "-c", "sleep 1000 & echo $! > '" + pidfile + "'; wait"},
                            milliseconds(3600 * 1000)));
  });
  pid_t bg = WaitForPidFile(pidfile);
  REQUIRE(bg > 1);
  auto start = Clock::now();
  runner.AbandonAll();
  call.join();
  CHECK(Clock::now() - start < milliseconds(5000));
  REQUIRE(absl::IsCancelled(result.status()));
  CHECK_THAT(std::string(result.status().message()), Catch::Contains("shutting down"));
  CHECK(EventuallyDead(bg));
  if (!ProcessDead(bg)) kill(bg, SIGKILL);
}

TEST_CASE("after AbandonAll nothing more is started", "[runner][abandon]") {
  TempDir dir;
  ProcessRunner runner;
  runner.AbandonAll();
  auto r = runner.Run(Cmd({"touch", dir.path() + "/ran"}));
  CHECK(absl::IsCancelled(r.status()));
  CHECK_FALSE(fs::exists(dir.path() + "/ran"));
}

TEST_CASE("a program that does not exist exits 127 with 'exec failed'", "[runner]") {
  ProcessRunner runner;
  auto r = runner.Run(Cmd({"/nonexistent/osgv-no-such-program", "arg"}));
  REQUIRE(r.ok());
  CHECK(r->exit_code == 127);
  CHECK_THAT(r->stderr_text, Catch::Contains("exec failed"));
  CHECK(r->stdout_text.empty());
  CHECK_FALSE(r->ok());

  auto p = runner.Run(Cmd({"osgv-no-such-program-on-path"}));
  REQUIRE(p.ok());
  CHECK(p->exit_code == 127);
  CHECK_THAT(p->stderr_text, Catch::Contains("exec failed"));
}

TEST_CASE("the child gets none of the driver's environment, only the fixed PATH",
          "[runner][env]") {
  // A secret the driver was started with must not reach any tool.
  REQUIRE(setenv("OSGV_TEST_CANARY_SECRET", "do-not-leak", 1) == 0);
  auto r = MustRun(Cmd({"/usr/bin/env"}));
  unsetenv("OSGV_TEST_CANARY_SECRET");
  CHECK(r.ok());
  CHECK_THAT(r.stdout_text, !Catch::Contains("OSGV_TEST_CANARY_SECRET"));
  CHECK_THAT(r.stdout_text, !Catch::Contains("do-not-leak"));
  CHECK_THAT(r.stdout_text, Catch::Contains(std::string("PATH=") + kToolSearchPath + "\n"));
  // Nothing but PATH and the documented pass-through variables.
  std::istringstream lines(r.stdout_text);
  for (std::string line; std::getline(lines, line);) {
    std::string name = line.substr(0, line.find('='));
    INFO(line);
    CHECK((name == "PATH" || name == "HOME" || name == "XDG_RUNTIME_DIR" ||
           name == "XDG_CONFIG_HOME" || name == "TMPDIR" || name == "http_proxy" ||
           name == "https_proxy" || name == "no_proxy" || name == "HTTP_PROXY" ||
           name == "HTTPS_PROXY" || name == "NO_PROXY"));
  }
}

TEST_CASE("a bare tool name resolves to an absolute path in the fixed search path",
          "[runner][tools]") {
  auto env = ResolveTool("runsc.path", "env");
  REQUIRE(env.ok());
  CHECK(*env == "/usr/bin/env");
  auto missing = ResolveTool("images.skopeo_path", "osgv-no-such-tool");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == absl::StatusCode::kNotFound);
  CHECK_THAT(std::string(missing.status().message()), Catch::StartsWith("images.skopeo_path: "));
  // An absolute path is kept as configured.
  CHECK(ResolveTool("runsc.path", "/opt/runsc/bin/runsc").value() == "/opt/runsc/bin/runsc");
}

TEST_CASE("a relative tool path is refused", "[runner][tools]") {
  for (const char* relative : {"bin/runsc", "./runsc", "../runsc"}) {
    auto r = ResolveTool("runsc.path", relative);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(r.status().message()), Catch::StartsWith("runsc.path: relative path"));
  }
  CHECK(ResolveTool("runsc.path", "").status().code() == absl::StatusCode::kInvalidArgument);
  // The runner refuses one too, rather than run whatever the working
  // directory holds under that name.
  ProcessRunner runner;
  auto r = runner.Run(Cmd({"./env"}));
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("an empty argv is INVALID_ARGUMENT", "[runner]") {
  ProcessRunner runner;
  auto r = runner.Run(Command{});
  REQUIRE(!r.ok());
  CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("passthrough stdout lands in the given pipe, not the result", "[runner][passthrough]") {
  Pipe out;
  Command c = Cmd({"sh", "-c", "echo to-pipe; echo to-stderr >&2"});
  c.stdout_fd = out.w;
  auto r = MustRun(c);
  out.CloseWrite();
  CHECK(r.ok());
  CHECK(r.stdout_text.empty());
  CHECK(r.stderr_text == "to-stderr\n");
  CHECK(out.ReadAll() == "to-pipe\n");
}

TEST_CASE("passthrough stdout and stderr into one file", "[runner][passthrough]") {
  TempDir dir;
  const std::string path = dir.path() + "/log";
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  Command c = Cmd({"sh", "-c", "echo one; echo two >&2; exit 4"});
  c.stdout_fd = fd;
  c.stderr_fd = fd;
  auto r = MustRun(c);
  close(fd);
  CHECK(r.exit_code == 4);
  CHECK(r.stdout_text.empty());
  CHECK(r.stderr_text.empty());
  CHECK(Slurp(path) == "one\ntwo\n");
}

TEST_CASE("passthrough stdin, and /dev/null by default", "[runner][passthrough]") {
  SECTION("given stdin") {
    Pipe in;
    REQUIRE(write(in.w, "hello stdin", 11) == 11);
    in.CloseWrite();
    Command c = Cmd({"cat"});
    c.stdin_fd = in.r;
    auto r = MustRun(c);
    CHECK(r.ok());
    CHECK(r.stdout_text == "hello stdin");
  }
  SECTION("default stdin is empty, never the test's own") {
    auto r = MustRun(Cmd({"cat"}, milliseconds(5000)));
    CHECK_FALSE(r.timed_out);
    CHECK(r.ok());
    CHECK(r.stdout_text.empty());
  }
}

TEST_CASE("argv is passed verbatim, never through a shell", "[runner]") {
  auto r = MustRun(Cmd({"printf", "%s|", "a b", "it's", "\"q\"", "$HOME", "*", "; echo x", "",
                        "back\\slash"}));
  CHECK(r.ok());
  CHECK(r.stdout_text == "a b|it's|\"q\"|$HOME|*|; echo x||back\\slash|");
}

TEST_CASE("large outputs on both streams are captured without deadlock", "[runner]") {
  auto r = MustRun(Cmd({"sh", "-c", "head -c 300000 /dev/zero; head -c 200000 /dev/zero >&2"}));
  CHECK(r.ok());
  CHECK(r.stdout_text.size() == 300000);
  CHECK(r.stderr_text.size() == 200000);
}

TEST_CASE("the child inherits no stray file descriptors", "[runner]") {
  // Deliberately without O_CLOEXEC.
  int fd = open("/dev/null", O_RDONLY);
  REQUIRE(fd >= 3);
  auto r = MustRun(Cmd({"sh", "-c", "if [ -e /proc/self/fd/" + std::to_string(fd) +
                                        " ]; then echo leaked; else echo clean; fi"}));
  close(fd);
  CHECK(r.stdout_text == "clean\n");
}

TEST_CASE("Describe", "[runner]") {
  CommandResult r;
  CHECK(r.Describe() == "exit code 0");

  r.exit_code = 128;
  r.stderr_text = "boom\n\n";
  CHECK(r.Describe() == "exit code 128: boom");

  CommandResult sig;
  sig.signal = 9;
  CHECK(sig.Describe() == "killed by signal 9");
  sig.stderr_text = "partial output \n";
  CHECK(sig.Describe() == "killed by signal 9: partial output");

  CommandResult to;
  to.timed_out = true;
  to.signal = 9;  // killed because of the timeout: the timeout is what counts
  CHECK_THAT(to.Describe(), Catch::StartsWith("timed out"));
  CHECK_THAT(to.Describe(), !Catch::Contains("signal"));
  to.stderr_text = "x";
  CHECK(to.Describe() == "timed out: x");
}

TEST_CASE("ok() is exit 0, no signal, no timeout", "[runner]") {
  CommandResult r;
  CHECK(r.ok());
  r.exit_code = 1;
  CHECK_FALSE(r.ok());
  r.exit_code = 0;
  r.signal = 15;
  CHECK_FALSE(r.ok());
  r.signal = 0;
  r.timed_out = true;
  CHECK_FALSE(r.ok());
}

}  // namespace
}  // namespace osgv
