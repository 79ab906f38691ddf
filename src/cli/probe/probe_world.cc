#include "cli/probe/probe.h"

#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "lifecycle/sandbox_status.h"

namespace osgv {

absl::StatusOr<ProbeSandbox> ProbeWorld::Boot(const std::string& prefix, const std::string& memory,
                                              uint64_t pids_limit) {
  RunOptions o = options_;
  o.memory = memory;
  auto name = EphemeralName(prefix);
  if (!name.ok()) return name.status();
  SandboxRequest request = EphemeralRequest(o, *name, image_, tools_.KeepAlive());
  for (const auto& m : tools_.Mounts()) request.spec.host_mounts.push_back(m);
  if (pids_limit != 0) {
    request.spec.tmpl.driver_config_json = absl::StrCat("{\"pids_limit\":", pids_limit, "}");
  }
  auto record = session_->Boot(request);
  if (!record.ok()) return record.status();
  ProbeSandbox sandbox{record->id, record->runsc_id, static_cast<int>(record->monitor_pid)};
  // Several probes write scratch files to /tmp, which a minimal image may
  // lack; in the sandbox's own upper layer, so the image stays untouched.
  Exec(sandbox, {"mkdir", "-p", "/tmp"});
  return sandbox;
}

void ProbeWorld::Discard(const ProbeSandbox& s) { session_->Delete(s.id).IgnoreError(); }

bool ProbeWorld::Running(const ProbeSandbox& s) {
  auto record = session_->runtime().manager->Find(s.id);
  return record.ok() && record->phase == phase::kRunning;
}

CommandResult ProbeWorld::Exec(const ProbeSandbox& s, const std::vector<std::string>& argv,
                               std::chrono::milliseconds timeout) {
  return RunIn(s, tools_.Argv(argv), timeout);
}

CommandResult ProbeWorld::Sh(const ProbeSandbox& s, const std::string& script,
                             std::chrono::milliseconds timeout) {
  return RunIn(s, tools_.ShArgv(script), timeout);
}

CommandResult ProbeWorld::RunIn(const ProbeSandbox& s, const std::vector<std::string>& argv,
                                std::chrono::milliseconds timeout) {
  auto r = session_->Exec(s.runsc_id, argv, timeout);
  if (r.ok()) return *r;
  CommandResult failed;
  failed.exit_code = 125;
  failed.stderr_text = std::string(r.status().message());
  return failed;
}

void ProbeWorld::LearnTools(const std::vector<std::string>& needed) {
  tools_.Learn(RunIn(primary, tools_.ListArgv(needed), std::chrono::seconds(20)));
}

ProbeResult Pass(std::string evidence) { return {ProbeOutcome::kPass, std::move(evidence)}; }
ProbeResult Fail(std::string evidence) { return {ProbeOutcome::kFail, std::move(evidence)}; }
ProbeResult CouldNotRun(std::string why) { return {ProbeOutcome::kCouldNotRun, std::move(why)}; }

ProbeRow RunProbe(const ProbeSpec& probe, ProbeWorld& world) {
  std::string missing = world.tools().Missing(probe.tools);
  ProbeResult r = missing.empty() ? probe.run(world) : CouldNotRun(missing);
  return {probe.name, probe.expectation, r.outcome, r.evidence};
}

std::string Brief(const CommandResult& r, size_t max_chars) {
  std::string text = r.stdout_text + r.stderr_text;
  text = absl::StrReplaceAll(text, {{"\n", " | "}});
  while (!text.empty() && (text.back() == ' ' || text.back() == '|')) text.pop_back();
  if (text.size() > max_chars) text = text.substr(0, max_chars) + "...";
  std::string status = r.timed_out  ? "timed out"
                       : r.signal   ? absl::StrCat("signal ", r.signal)
                                    : absl::StrCat("exit ", r.exit_code);
  return text.empty() ? status : absl::StrCat(status, ": ", text);
}

std::string HostRead(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return !needle.empty() && haystack.find(needle) != std::string::npos;
}

const std::vector<ProbeSpec>& BoundaryProbes() {
  static const std::vector<ProbeSpec> all = [] {
    std::vector<ProbeSpec> v;
    for (auto family : {FilesystemProbes, ProcessProbes, KernelProbes, NetworkProbes, LimitProbes}) {
      auto probes = family();
      v.insert(v.end(), probes.begin(), probes.end());
    }
    return v;
  }();
  return all;
}

std::vector<std::string> AllProbeTools() {
  std::set<std::string> all = {"mkdir", "sleep"};  // ProbeWorld::Boot's
  for (const auto& p : BoundaryProbes()) all.insert(p.tools.begin(), p.tools.end());
  return {all.begin(), all.end()};
}

}  // namespace osgv
