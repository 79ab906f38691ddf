// `openshell-driver-gvisor exec --state-dir DIR SANDBOX -- CMD...`: run a
// command inside a running sandbox with our stdio, exit with its code.
//
// runsc writes to a regular-file stdout at its own offset from 0 (runsc.md
// §2), which would clobber `exec ... > file` output. Regular files are
// therefore fed through a pipe that we copy at our own offset; ttys and
// pipes are handed to runsc as they are.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "driver/cli_args.h"
#include "driver/commands.h"
#include "driver/driver_config.h"
#include "lifecycle/runsc/runsc.h"
#include "lifecycle/sandbox_status.h"
#include "lifecycle/state_layout.h"
#include "lifecycle/store/record_lookup.h"
#include "lifecycle/store/state_store.h"

namespace osgv {
namespace {

bool IsRegularFile(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

void CopyAll(int from, int to) {
  char buf[65536];
  ssize_t n;
  while ((n = read(from, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
    for (ssize_t off = 0; n > 0 && off < n;) {
      ssize_t w = write(to, buf + off, static_cast<size_t>(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return;
      off += w;
    }
  }
}

// A pipe standing in for a regular file on one stdio stream.
struct StdioBridge {
  int child_fd = -1;  // what runsc gets
  std::thread pump;

  void Open(int our_fd, bool is_input) {
    if (!IsRegularFile(our_fd)) {
      child_fd = our_fd;
      return;
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
      child_fd = our_fd;
      return;
    }
    if (is_input) {
      child_fd = p[0];
      pump = std::thread([our_fd, w = p[1]] {
        CopyAll(our_fd, w);
        close(w);
      });
    } else {
      child_fd = p[1];
      pump = std::thread([our_fd, r = p[0]] {
        CopyAll(r, our_fd);
        close(r);
      });
    }
    owned_ = p[is_input ? 0 : 1];
  }
  // Our copy of the child's end must close so the pump sees EOF.
  void CloseChildEnd() {
    if (owned_ >= 0) close(owned_);
    owned_ = -1;
  }
  void Join() {
    if (pump.joinable()) pump.join();
  }

 private:
  int owned_ = -1;
};

int Fail(const std::string& message, int code = 125) {
  std::cerr << "exec: " << message << "\n";
  return code;
}

}  // namespace

int ExecCommand(const std::vector<std::string>& argv) {
  auto args = ParseArgs(argv, {"state-dir", "config", "timeout"}, {"tty", "no-tty"});
  if (!args.ok()) return Fail(std::string(args.status().message()), 2);
  if (args->positional.size() != 1 || !args->has_rest || args->rest.empty()) {
    return Fail("usage: exec --state-dir DIR [--tty|--no-tty] [--timeout D] SANDBOX -- CMD...", 2);
  }
  auto config = ConfigFromArgs(*args);
  if (!config.ok()) return Fail(std::string(config.status().message()), 2);
  std::chrono::milliseconds timeout = std::chrono::hours(24);
  if (auto t = args->Get("timeout")) {
    auto d = ParseDuration(*t);
    if (!d.ok()) return Fail(absl::StrCat("--timeout: ", d.status().message()), 2);
    timeout = *d;
  }

  StateLayout layout{config->state_dir};
  if (!std::filesystem::exists(layout.database())) {
    return Fail(absl::StrCat("no driver state in ", config->state_dir, " (is --state-dir right?)"));
  }
  auto store = StateStore::Open(layout.database());
  if (!store.ok()) return Fail(std::string(store.status().message()));
  auto records = (*store)->List();
  if (!records.ok()) return Fail(std::string(records.status().message()));
  auto record = FindRecord(*records, args->positional[0]);
  if (!record.ok()) return Fail(std::string(record.status().message()));
  if (record->phase != phase::kRunning) {
    return Fail(absl::StrCat("sandbox '", args->positional[0], "' is not running (", record->phase,
                             record->message.empty() ? "" : ": " + record->message, ")"));
  }

  ProcessRunner runner;
  RunscOptions opts;
  opts.path = config->runsc.path;
  opts.root = layout.runsc_root();
  opts.platform = config->runsc.platform;
  opts.timeout = config->runsc.timeout;
  Runsc runsc(&runner, opts);
  if (auto f = runsc.Detect(); !f.ok()) return Fail(std::string(f.status().message()));

  bool tty = args->Has("tty") || (!args->Has("no-tty") && isatty(0) && isatty(1));
  StdioBridge in, out, err;
  in.Open(0, true);
  out.Open(1, false);
  err.Open(2, false);
  Command cmd;
  cmd.argv = runsc.ExecArgv(record->runsc_id, args->rest, tty);
  cmd.timeout = timeout;
  cmd.stdin_fd = in.child_fd;
  cmd.stdout_fd = out.child_fd;
  cmd.stderr_fd = err.child_fd;
  cmd.own_process_group = false;  // stay in the terminal's foreground group
  auto result = runner.Run(cmd);
  in.CloseChildEnd();
  out.CloseChildEnd();
  err.CloseChildEnd();
  // stdin's pump may block reading a large file nobody consumes; detach it.
  if (in.pump.joinable()) in.pump.detach();
  out.Join();
  err.Join();
  if (!result.ok()) return Fail(std::string(result.status().message()));
  if (result->timed_out) return Fail(absl::StrCat("timed out after ", timeout.count(), "ms"), 124);
  if (result->signal != 0) return 128 + result->signal;
  return result->exit_code;
}

}  // namespace osgv
