#include "lifecycle/runsc/runsc.h"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "lifecycle/network/sandbox_network.h"
#include "lifecycle/runsc/direct_io.h"

namespace osgv {

Runsc::Runsc(CommandRunner* runner, RunscOptions options)
    : runner_(runner), options_(std::move(options)) {}

std::vector<std::string> Runsc::GlobalArgs() const {
  std::vector<std::string> args = {
      options_.path,
      absl::StrCat("--root=", options_.root),
      absl::StrCat("--platform=", options_.platform),
      absl::StrCat("--network=", options_.network.empty() ? "none" : options_.network),
  };
  // Flags older runsc builds lack are only passed when detected, so a
  // missing feature is reported by whoever needs it, not by every call.
  if (features_.Has("overlay2")) args.push_back("--overlay2=none");
  if (features_.Has("net-disconnect-ok")) args.push_back("--net-disconnect-ok");
  if (!options_.debug_log_dir.empty()) {
    args.push_back("--debug");
    args.push_back(absl::StrCat("--debug-log=", options_.debug_log_dir, "/"));
  }
  return args;
}

absl::StatusOr<CommandResult> Runsc::Call(std::vector<std::string> args,
                                          std::chrono::milliseconds timeout) {
  Command cmd;
  cmd.argv = GlobalArgs();
  cmd.argv.insert(cmd.argv.end(), args.begin(), args.end());
  cmd.timeout = timeout;
  return runner_->Run(cmd);
}

absl::Status Runsc::PrepareBootCommand(Command* cmd) const {
  if (options_.network != "sandbox") return absl::OkStatus();
  if (options_.netns_path.empty()) {
    return absl::FailedPreconditionError("runsc --network=sandbox needs the sandbox's netns path");
  }
  if (auto st = CheckNotHostNetns(options_.netns_path); !st.ok()) return st;
  cmd->mask_proc_sys_net = true;
  return absl::OkStatus();
}

absl::Status Runsc::Check(const std::string& what, const std::string& id,
                          absl::StatusOr<CommandResult> result) {
  if (!result.ok()) return result.status();
  if (result->ok()) return absl::OkStatus();
  std::string msg = absl::StrCat("runsc ", what, " ", id, ": ", result->Describe());
  if (result->timed_out) return absl::DeadlineExceededError(msg);
  return absl::InternalError(msg);
}

absl::StatusOr<RunscFeatures> Runsc::Detect() {
  Command version;
  version.argv = {options_.path, "--version"};
  version.timeout = options_.timeout;
  auto v = runner_->Run(version);
  if (!v.ok()) return v.status();
  if (!v->ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("runsc at '", options_.path, "' does not run: ", v->Describe()));
  }
  RunscFeatures features;
  // "runsc version 0.0~20240729.0\nspec: 1.0.2-dev\n"
  for (absl::string_view line : absl::StrSplit(v->stdout_text, '\n')) {
    if (absl::ConsumePrefix(&line, "runsc version ")) features.version = std::string(line);
  }
  Command flags;
  flags.argv = {options_.path, "flags"};
  flags.timeout = options_.timeout;
  auto f = runner_->Run(flags);
  if (!f.ok()) return f.status();
  // `runsc flags` prints its table on stderr on some builds.
  features.flags = ParseRunscFlags(f->stdout_text + "\n" + f->stderr_text);
  for (const char* subcommand : {"checkpoint", "restore"}) {
    features.flags.merge(SubcommandFlags(subcommand));
  }
  features_ = features;
  return features;
}

std::set<std::string> Runsc::SubcommandFlags(const std::string& subcommand) {
  // `runsc help X` prints X's flag table on stdout and exits 0, where
  // `runsc X --help` exits 128. A probe that fails only means none of X's
  // optional flags is used.
  Command help;
  help.argv = {options_.path, "help", subcommand};
  help.timeout = options_.timeout;
  auto h = runner_->Run(help);
  if (!h.ok() || !h->ok()) return {};
  std::set<std::string> qualified;
  for (const auto& flag : ParseRunscFlags(h->stdout_text + "\n" + h->stderr_text)) {
    qualified.insert(absl::StrCat(subcommand, ".", flag));
  }
  return qualified;
}

absl::Status Runsc::RunWithContainerStdio(const std::string& what, const std::string& id,
                                          std::vector<std::string> args, int stdin_fd,
                                          int stdout_fd, int stderr_fd,
                                          std::chrono::milliseconds timeout) {
  Command cmd;
  cmd.argv = GlobalArgs();
  cmd.argv.insert(cmd.argv.end(), args.begin(), args.end());
  cmd.timeout = timeout;
  cmd.stdin_fd = stdin_fd;
  cmd.stdout_fd = stdout_fd;
  // runsc's own errors share the container's stderr here; the caller reads
  // them from that pipe (runsc.md §2: stdio is handed to the sandbox).
  cmd.stderr_fd = stderr_fd;
  if (auto st = PrepareBootCommand(&cmd); !st.ok()) return st;
  return Check(what, id, runner_->Run(cmd));
}

absl::Status Runsc::Create(const std::string& id, const std::string& bundle,
                           const std::string& pid_file, int stdin_fd, int stdout_fd,
                           int stderr_fd) {
  return RunWithContainerStdio(
      "create", id, {"create", "--bundle", bundle, absl::StrCat("--pid-file=", pid_file), id},
      stdin_fd, stdout_fd, stderr_fd, options_.timeout);
}

absl::Status Runsc::Restore(const std::string& id, const std::string& bundle,
                            const std::string& image_dir, const std::string& pid_file,
                            int stdin_fd, int stdout_fd, int stderr_fd) {
  std::vector<std::string> args = {"restore", "--detach", "--bundle", bundle,
                                   absl::StrCat("--image-path=", image_dir),
                                   absl::StrCat("--pid-file=", pid_file)};
  if (RestoreUsesDirectIo(image_dir)) args.push_back("--direct");
  args.push_back(id);
  return RunWithContainerStdio("restore", id, std::move(args), stdin_fd, stdout_fd, stderr_fd,
                               options_.timeout);
}

absl::Status Runsc::Checkpoint(const std::string& id, const std::string& image_dir,
                               const std::string& compression,
                               std::chrono::milliseconds timeout) {
  std::vector<std::string> args = {"checkpoint", absl::StrCat("--image-path=", image_dir)};
  if (compression == "none") args.push_back("--compression=none");
  if (CheckpointUsesDirectIo(image_dir, compression)) args.push_back("--direct");
  args.push_back(id);
  return Check("checkpoint", id, Call(args, timeout));
}

bool Runsc::CheckpointUsesDirectIo(const std::string& image_dir,
                                   const std::string& compression) const {
  // A flate image is one stream that runsc writes through its compressor;
  // --direct concerns the pages file of an uncompressed one. runsc creates
  // image_dir itself, on its parent's file system.
  return options_.direct_checkpoint && compression == "none" && features_.Has("checkpoint.direct") &&
         FileSystemTakesDirectIo(std::filesystem::path(image_dir).parent_path().string());
}

bool Runsc::RestoreUsesDirectIo(const std::string& image_dir) const {
  const std::string pages = image_dir + "/pages.img";
  std::error_code ec;
  return features_.Has("restore.direct") && std::filesystem::is_regular_file(pages, ec) &&
         !FileMostlyInPageCache(pages) && FileSystemTakesDirectIo(image_dir);
}

absl::Status Runsc::Start(const std::string& id) {
  Command cmd;
  cmd.argv = GlobalArgs();
  cmd.argv.insert(cmd.argv.end(), {"start", id});
  cmd.timeout = options_.timeout;
  if (auto st = PrepareBootCommand(&cmd); !st.ok()) return st;
  return Check("start", id, runner_->Run(cmd));
}

absl::StatusOr<std::optional<ContainerState>> Runsc::State(const std::string& id) {
  auto r = Call({"state", id}, options_.timeout);
  if (!r.ok()) return r.status();
  if (!r->ok()) {
    if (r->stderr_text.find("does not exist") != std::string::npos ||
        r->stderr_text.find("no such file") != std::string::npos) {
      return std::optional<ContainerState>();
    }
    return Check("state", id, std::move(r));
  }
  auto s = ParseContainerState(r->stdout_text);
  if (!s.ok()) return s.status();
  return std::optional<ContainerState>(*s);
}

absl::StatusOr<std::vector<ContainerState>> Runsc::List() {
  auto r = Call({"list", "--format=json"}, options_.timeout);
  if (!r.ok()) return r.status();
  if (!r->ok()) return Check("list", "", std::move(r));
  return ParseContainerList(r->stdout_text);
}

absl::Status Runsc::Kill(const std::string& id, int signal, bool all) {
  std::vector<std::string> args = {"kill"};
  if (all) args.push_back("--all");
  args.push_back(id);
  args.push_back(std::to_string(signal));
  return Check("kill", id, Call(args, options_.timeout));
}

absl::Status Runsc::Delete(const std::string& id, bool force) {
  std::vector<std::string> args = {"delete"};
  if (force) args.push_back("--force");
  args.push_back(id);
  auto r = Call(args, options_.timeout);
  if (r.ok() && !r->ok() && r->stderr_text.find("does not exist") != std::string::npos) {
    return absl::NotFoundError(absl::StrCat("runsc delete ", id, ": no such container"));
  }
  return Check("delete", id, std::move(r));
}

std::vector<std::string> Runsc::ExecArgv(const std::string& id,
                                         const std::vector<std::string>& cmd) const {
  std::vector<std::string> argv = GlobalArgs();
  argv.push_back("exec");
  argv.push_back(id);
  argv.insert(argv.end(), cmd.begin(), cmd.end());
  return argv;
}

absl::StatusOr<ContainerState> ParseContainerState(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InternalError(absl::StrCat("runsc state: unparsable output: ", text));
  }
  // A field of an unexpected type is a runsc we do not understand, not a
  // reason to throw out of the driver.
  try {
    ContainerState s;
    s.id = j.value("id", "");
    s.status = j.value("status", "");
    s.pid = j.value("pid", -1);
    s.bundle = j.value("bundle", "");
    return s;
  } catch (const nlohmann::json::exception& e) {
    return absl::InternalError(absl::StrCat("runsc state: unexpected output: ", e.what()));
  }
}

absl::StatusOr<std::vector<ContainerState>> ParseContainerList(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) {
    return absl::InternalError(absl::StrCat("runsc list: unparsable output: ", text));
  }
  std::vector<ContainerState> out;
  if (j.is_null()) return out;  // runsc prints "null" for an empty root
  if (!j.is_array()) return absl::InternalError("runsc list: expected a JSON array");
  for (const auto& item : j) {
    auto s = ParseContainerState(item.dump());
    if (!s.ok()) return s.status();
    out.push_back(*s);
  }
  return out;
}

std::set<std::string> ParseRunscFlags(const std::string& text) {
  // Lines look like "  -net-disconnect-ok" or "  -platform string".
  std::set<std::string> flags;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view v = absl::StripLeadingAsciiWhitespace(line);
    if (!absl::ConsumePrefix(&v, "-")) continue;
    absl::ConsumePrefix(&v, "-");
    std::string name(v.substr(0, v.find_first_of(" \t=")));
    if (!name.empty()) flags.insert(name);
  }
  return flags;
}

}  // namespace osgv
