// SandboxHost: image, bundle, mount, monitor, checkpoint files and their
// release for one sandbox (the network is in sandbox_host_network.cc).
#include "lifecycle/sandbox_host.h"

#include <signal.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "lifecycle/bundle/bundle_writer.h"
#include "lifecycle/bundle/sandbox_env.h"
#include "lifecycle/bundle/token_file.h"
#include "lifecycle/console_tail.h"
#include "lifecycle/fs_util.h"
#include "lifecycle/monitor/exit_watcher.h"
#include "lifecycle/runsc/cgroups.h"
#include "lifecycle/wall_clock.h"

namespace osgv {

namespace {

using Clock = std::chrono::steady_clock;

// An orphan's plan: nothing about it is known, so nothing is built from it.
const SandboxPlan& NoPlan() {
  static const SandboxPlan none;
  return none;
}

}  // namespace

SandboxHost::SandboxHost(const HostSeams* seams, std::string id, std::string name,
                         std::string runsc_id, const SandboxPlan* plan)
    : seams_(seams), id_(std::move(id)), name_(std::move(name)), runsc_id_(std::move(runsc_id)),
      plan_(plan) {}

SandboxHost SandboxHost::Orphan(const HostSeams* seams, std::string runsc_id) {
  std::string id = runsc_id;
  return SandboxHost(seams, std::move(id), "", std::move(runsc_id), &NoPlan());
}

SandboxPaths SandboxHost::paths() const { return seams_->layout->sandbox(runsc_id_); }

CheckpointPaths SandboxHost::checkpoint() const {
  return seams_->layout->checkpoint(seams_->config->checkpoint_dir, runsc_id_);
}

// ---- building it up ----------------------------------------------------------

absl::StatusOr<PreparedImage> SandboxHost::PrepareImage(
    const std::string& pinned_digest,
    const std::function<void(const ImageProgress&)>& progress) const {
  PrepareOptions options;
  options.pull_policy = plan_->pull_policy;
  options.pinned_digest = pinned_digest;
  return seams_->images->Prepare(plan_->image, progress, options);
}

bool SandboxHost::HasBundle() const {
  return std::filesystem::exists(seams_->layout->bundle_config(runsc_id_));
}

absl::Status SandboxHost::WriteBundle(const SandboxRequest& request, const PreparedImage& image,
                                      const NetworkAttachment* net) const {
  BundleInputs in;
  in.config = seams_->config;
  in.plan = plan_;
  in.request = &request;
  in.image = &image;
  in.net = net;
  in.runsc_id = runsc_id_;
  in.paths = paths();
  in.telemetry_enabled = DriverTelemetryEnabled();
  return osgv::WriteBundle(in);
}

absl::Status SandboxHost::MountRootfs(const PreparedImage& image) const {
  const SandboxPaths p = paths();
  if (seams_->mounter->IsMounted(p.rootfs())) return absl::OkStatus();
  return seams_->mounter->MountOverlay(image.rootfs_dir, p.upper(), p.work(), p.rootfs());
}

absl::StatusOr<MonitorHandle> SandboxHost::LaunchMonitor(const NetworkAttachment* net,
                                                         const std::string& restore_dir) const {
  const StateLayout& L = *seams_->layout;
  const std::string& rid = runsc_id_;
  RemoveTree(L.exit_file(rid)).IgnoreError();  // a previous incarnation's
  MonitorSpec ms;
  ms.runsc = seams_->runsc->options();
  ms.runsc_flags = seams_->runsc->features().flags;
  ms.container_id = rid;
  ms.bundle = L.bundle(rid);
  ms.console_log = L.console_log(rid);
  ms.console_log_max_bytes = seams_->config->sandbox.console_log_max_bytes;
  ms.exit_file = L.exit_file(rid);
  ms.log_file = L.monitor_log(rid);
  ms.restore_image_dir = restore_dir;
  // The plan's network mode, whatever the configuration says today.
  if (net != nullptr) {
    ms.runsc.network = "sandbox";
    ms.runsc.netns_path = net->netns_path;
  }
  auto handle = seams_->monitors->Launch(ms, L.monitor_spec(rid));
  if (!handle.ok()) RemoveLeakedCgroups(seams_->cgroup_root, rid);
  return handle;
}

// ---- while it runs -------------------------------------------------------------

absl::Status SandboxHost::Checkpoint(const std::string& dir,
                                     const std::string& compression) const {
  return seams_->runsc->Checkpoint(runsc_id_, dir, compression,
                                   seams_->config->checkpoint.timeout);
}

bool SandboxHost::ProcessAlive() const {
  // After a failed or successful checkpoint runsc may still say "running"
  // until the monitor has reaped the sandbox process; give it a moment.
  auto deadline = Clock::now() + std::chrono::seconds(2);
  while (Clock::now() < deadline) {
    auto state = seams_->runsc->State(runsc_id_);
    if (!state.ok() || !state->has_value()) return false;
    if ((*state)->status != "running" && (*state)->status != "created") return false;
    if ((*state)->pid <= 0 || kill((*state)->pid, 0) != 0) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

std::optional<uint64_t> SandboxHost::MemoryBytes() const {
  return SandboxMemoryBytes(seams_->cgroup_root, runsc_id_);
}

int SandboxHost::MonitorPid() const {
  auto text = ReadFile(seams_->layout->monitor_pid(runsc_id_));
  int pid = 0;
  if (!text.ok() || !absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &pid) || pid <= 0) return 0;
  // Only a live process that is our monitor for this very sandbox counts.
  return IsMonitorOf(pid, seams_->layout->sandbox_dir(runsc_id_)) ? pid : 0;
}

std::optional<int> SandboxHost::RecordedExitCode() const {
  auto exit = ReadExitRecord(seams_->layout->exit_file(runsc_id_));
  if (!exit.ok() || !exit->has_value()) return std::nullopt;
  return (*exit)->exit_code;
}

std::string SandboxHost::LastOutput() const {
  return ConsoleTail(seams_->layout->console_log(runsc_id_));
}

int SandboxHost::OomKills() const { return SandboxOomKills(seams_->cgroup_root, runsc_id_); }

// ---- recovery --------------------------------------------------------------------

bool SandboxHost::WaitForInterruptedLaunch(int* sandbox_pid) const {
  auto deadline = Clock::now() + seams_->config->runsc.timeout * 3;
  while (MonitorPid() > 0 && Clock::now() < deadline) {
    auto state = seams_->runsc->State(runsc_id_);
    if (state.ok() && state->has_value() && (*state)->status == "running" && (*state)->pid > 0) {
      *sandbox_pid = (*state)->pid;
      spdlog::info("recovery: sandbox {}: its launch finished after the restart", runsc_id_);
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

bool SandboxHost::WaitForInterruptedCheckpoint(int sandbox_pid) const {
  // Settled = the sandbox exited (the save finished, well or not), or its
  // temporary image has not grown for 3 s while it still runs.
  auto size_of_temporaries = [this] {
    uint64_t total = 0;
    std::error_code ec;
    for (const auto& dir : StagingImages()) {
      for (const auto& f : std::filesystem::recursive_directory_iterator(dir, ec)) {
        if (f.is_regular_file(ec)) total += f.file_size(ec);
      }
    }
    return total;
  };
  auto deadline = Clock::now() + seams_->config->checkpoint.timeout;
  uint64_t last = size_of_temporaries();
  auto last_change = Clock::now();
  while (Clock::now() < deadline) {
    // The sandbox process exits right after a finished save.
    if (sandbox_pid <= 0 || kill(sandbox_pid, 0) != 0) return true;
    uint64_t now = size_of_temporaries();
    if (now != last) {
      last = now;
      last_change = Clock::now();
    } else if (Clock::now() - last_change > std::chrono::seconds(3)) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

std::vector<std::string> SandboxHost::StagingImages() const {
  std::vector<std::string> dirs;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(checkpoint().root, ec)) {
    if (entry.path().filename().string().rfind(CheckpointPaths::kStagingPrefix, 0) == 0) {
      dirs.push_back(entry.path().string());
    }
  }
  return dirs;
}

absl::StatusOr<CheckpointImage> SandboxHost::SealInterruptedCheckpoint() const {
  // Recovery asks for this only when the sandbox ended the way a finished
  // save ends it (exit 0, recorded by its monitor).
  const std::vector<std::string> staged = StagingImages();
  if (staged.empty()) return absl::NotFoundError("no interrupted checkpoint image");
  CheckpointImage image;
  image.compression = "unknown";
  image.created_at_ms = UnixNowMs();
  return SealCheckpoint(staged.front(), checkpoint().image(), image);
}

// ---- tearing it down -------------------------------------------------------------

void SandboxHost::WaitForMonitorEnd() const {
  int pid = MonitorPid();
  if (pid <= 0) return;
  ProcessHandle monitor(pid);
  // It reaps the sandbox, records its exit and reaps the gofer (a few
  // seconds at most, monitor_process.cc); runsc delete needs the reap.
  if (!monitor.WaitForExit(std::chrono::seconds(10))) {
    spdlog::warn("sandbox {}: its monitor (pid {}) has not ended 10 s after the sandbox stopped; "
                 "releasing the container anyway", runsc_id_, pid);
  }
}

void SandboxHost::Release() const {
  auto st = seams_->runsc->Delete(runsc_id_, /*force=*/true);
  if (!st.ok() && !absl::IsNotFound(st)) spdlog::warn("{}", st.ToString());
  st = seams_->mounter->Unmount(seams_->layout->rootfs(runsc_id_));
  if (!st.ok()) spdlog::warn("{}", st.ToString());
  if (int n = RemoveLeakedCgroups(seams_->cgroup_root, runsc_id_); n > 0) {
    spdlog::debug("sandbox {}: removed {} leaked cgroup dir(s)", runsc_id_, n);
  }
}

absl::Status SandboxHost::RemoveFiles() const {
  const std::string dir = seams_->layout->sandbox_dir(runsc_id_);
  // First, so that a failing unmount below can never leave the token behind.
  RemoveTokenFile(dir).IgnoreError();
  DisconnectNetwork();
  for (const auto& m : seams_->mounter->MountsUnder(dir)) {
    if (auto st = seams_->mounter->Unmount(m); !st.ok()) return st;
  }
  if (auto st = RemoveTree(checkpoint().root); !st.ok()) return st;
  return RemoveTree(dir);
}

}  // namespace osgv
