// A scripted CommandRunner for unit tests: records every Command it is asked
// to run and answers with a canned CommandResult chosen by the command's
// subcommand, so runsc (and anything else spoken through a CommandRunner) can
// be tested without running it. Header-only so the unit test glob
// (unit/*_test.cc) needs no change.
#pragma once

#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "lifecycle/runsc/command_runner.h"

namespace osgv::testing {

class FakeRunner : public CommandRunner {
 public:
  // The key a command is scripted under: the first argv element after
  // argv[0] that is not a flag ("--root=...", "--network=none", ...), i.e.
  // runsc's subcommand. A command made only of flags ("runsc --version") is
  // keyed by its first flag ("--version"); a bare program by "".
  static std::string KeyOf(const Command& c) {
    for (size_t i = 1; i < c.argv.size(); ++i) {
      if (c.argv[i].rfind("-", 0) != 0) return c.argv[i];
    }
    return c.argv.size() > 1 ? c.argv[1] : "";
  }

  // Every later command keyed `key` gets `result` (until replaced). Queued
  // results (Enqueue) are used first.
  void Script(const std::string& key, absl::StatusOr<CommandResult> result) {
    std::lock_guard<std::mutex> lock(mu_);
    scripted_.insert_or_assign(key, std::move(result));
  }
  // The next command keyed `key` gets `result`, once.
  void Enqueue(const std::string& key, absl::StatusOr<CommandResult> result) {
    std::lock_guard<std::mutex> lock(mu_);
    queued_[key].push_back(std::move(result));
  }

  // Convenience builders for scripted results.
  static CommandResult Ok(std::string stdout_text = "", std::string stderr_text = "") {
    CommandResult r;
    r.stdout_text = std::move(stdout_text);
    r.stderr_text = std::move(stderr_text);
    return r;
  }
  static CommandResult Exit(int code, std::string stderr_text, std::string stdout_text = "") {
    CommandResult r = Ok(std::move(stdout_text), std::move(stderr_text));
    r.exit_code = code;
    return r;
  }
  static CommandResult TimedOut(std::string stderr_text = "") {
    CommandResult r = Ok("", std::move(stderr_text));
    r.timed_out = true;
    r.signal = 9;
    return r;
  }

  absl::StatusOr<CommandResult> Run(const Command& command) override {
    std::lock_guard<std::mutex> lock(mu_);
    commands_.push_back(command);
    if (abandoned_) return absl::CancelledError("killed: the driver is shutting down");
    const std::string key = KeyOf(command);
    if (auto q = queued_.find(key); q != queued_.end() && !q->second.empty()) {
      auto r = std::move(q->second.front());
      q->second.pop_front();
      return r;
    }
    if (auto s = scripted_.find(key); s != scripted_.end()) return s->second;
    return default_result_;
  }

  // As ProcessRunner's: every later command is CANCELLED.
  void AbandonAll() override {
    std::lock_guard<std::mutex> lock(mu_);
    abandoned_ = true;
  }
  bool abandoned() const {
    std::lock_guard<std::mutex> lock(mu_);
    return abandoned_;
  }

  // What an unscripted command gets (exit 0, no output, unless replaced).
  void SetDefault(absl::StatusOr<CommandResult> result) {
    std::lock_guard<std::mutex> lock(mu_);
    default_result_ = std::move(result);
  }

  std::vector<Command> commands() const {
    std::lock_guard<std::mutex> lock(mu_);
    return commands_;
  }
  Command last() const {
    std::lock_guard<std::mutex> lock(mu_);
    return commands_.empty() ? Command{} : commands_.back();
  }
  size_t count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return commands_.size();
  }
  void Clear() {
    std::lock_guard<std::mutex> lock(mu_);
    commands_.clear();
  }

 private:
  mutable std::mutex mu_;
  std::vector<Command> commands_;
  std::map<std::string, absl::StatusOr<CommandResult>> scripted_;
  std::map<std::string, std::deque<absl::StatusOr<CommandResult>>> queued_;
  absl::StatusOr<CommandResult> default_result_ = CommandResult{};
  bool abandoned_ = false;
};

}  // namespace osgv::testing
