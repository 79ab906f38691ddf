// SandboxManager: Recover, the start-up reconciliation of every stored
// record with what runsc and the disk show (docs/lifecycle.md, "Crash
// recovery"). Operations a crash cut short are finished or rolled back;
// running sandboxes are adopted. The orphan sweep is
// sandbox_manager_sweep.cc.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "lifecycle/checkpoint/checkpoint_image.h"
#include "lifecycle/fs_util.h"
#include "lifecycle/manager_support.h"
#include "lifecycle/sandbox_manager.h"
#include "lifecycle/sandbox_status.h"
#include "lifecycle/spec_codec.h"

namespace osgv {

using manager_support::Clock;
using manager_support::MiB;
using manager_support::NowMs;

absl::Status SandboxManager::Recover() {
  auto records = d_.store->List();
  if (!records.ok()) return records.status();
  auto listed = d_.runsc->List();
  if (!listed.ok()) return listed.status();
  std::map<std::string, ContainerState> containers;
  for (const auto& c : *listed) containers[c.id] = c;

  std::vector<EntryPtr> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& r : *records) {
      auto e = std::make_shared<Entry>(r);
      entries_[r.id] = e;
      all.push_back(e);
    }
  }
  std::vector<SandboxRequest> reprovision;
  for (const auto& e : all) RecoverRecord(e, containers, &reprovision);
  RemoveOrphans(containers);
  RemoveOrphanNetworks();
  d_.images->CleanStaging();

  for (auto& request : reprovision) {
    EntryPtr e;
    {
      std::lock_guard<std::mutex> lock(mu_);
      e = entries_[request.id];
    }
    RunInBackground([this, e, request = std::move(request)]() mutable {
      Provision(e, std::move(request));
    });
  }
  spdlog::info("recovery: {} sandbox record(s), {} to re-provision", all.size(),
               reprovision.size());
  return absl::OkStatus();
}

bool SandboxManager::WaitForInterruptedLaunch(const std::string& rid, int* sandbox_pid) {
  auto deadline = Clock::now() + d_.config.runsc.timeout * 3;
  while (MonitorPidOf(rid) > 0 && Clock::now() < deadline) {
    auto state = d_.runsc->State(rid);
    if (state.ok() && state->has_value() && (*state)->status == "running" && (*state)->pid > 0) {
      *sandbox_pid = (*state)->pid;
      spdlog::info("recovery: sandbox {}: its launch finished after the restart", rid);
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

bool SandboxManager::WaitForInterruptedCheckpoint(const std::string& root, int sandbox_pid) {
  // Settled = the sandbox exited (the save finished, well or not), or its
  // temporary image has not grown for 3 s while it still runs.
  auto size_of_temporaries = [&root] {
    uint64_t total = 0;
    std::error_code ec;
    for (const auto& f : std::filesystem::recursive_directory_iterator(root, ec)) {
      if (f.is_regular_file(ec) && f.path().string().find("/tmp-") != std::string::npos) {
        total += f.file_size(ec);
      }
    }
    return total;
  };
  auto deadline = Clock::now() + d_.config.checkpoint.timeout;
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

absl::StatusOr<CheckpointImage> SandboxManager::SealInterruptedCheckpoint(const std::string& rid,
                                                                          const std::string& root) {
  // Trust the image only when the sandbox ended the way a successful save
  // ends it (exit 0, recorded by its monitor); anything else is a failure.
  auto exit = ReadExitRecord(d_.layout.exit_file(rid));
  if (!exit.ok() || !exit->has_value() || (*exit)->exit_code != 0) {
    return absl::FailedPreconditionError("the interrupted checkpoint did not finish cleanly");
  }
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(root, ec)) {
    if (entry.path().filename().string().rfind("tmp-", 0) != 0) continue;
    CheckpointImage image;
    image.compression = "unknown";
    image.created_at_ms = NowMs();
    return SealCheckpoint(entry.path().string(), root + "/image", image);
  }
  return absl::NotFoundError("no interrupted checkpoint image");
}

void SandboxManager::Adopt(const EntryPtr& e, int sandbox_pid) {
  const SandboxRecord r = Record(e);
  // Prefer the monitor (it will record the exit code); if it is gone,
  // watch the sandbox process itself.
  int monitor = MonitorPidOf(r.runsc_id);
  if (monitor <= 0 && r.monitor_pid > 0 && kill(static_cast<pid_t>(r.monitor_pid), 0) == 0) {
    monitor = static_cast<int>(r.monitor_pid);
  }
  bool monitor_alive = monitor > 0;
  int pid = monitor_alive ? monitor : sandbox_pid;
  if (monitor_alive && monitor != r.monitor_pid) {
    Transition(e, [&](SandboxRecord& rec) { rec.monitor_pid = monitor; }).IgnoreError();
  }
  spdlog::info("recovery: sandbox {}: re-adopted running container {} (watching {} {})", r.id,
               r.runsc_id, monitor_alive ? "monitor" : "sandbox", pid);
  WatchExit(e, pid);
}

void SandboxManager::FinishRecoveredStop(const EntryPtr& e, const CheckpointImage& image) {
  ReleaseRuntime(e->runsc_id);
  std::string message = absl::StrCat("Memory checkpointed: ", MiB(image.bytes),
                                     " (finished after a driver restart)");
  Transition(e, [&](SandboxRecord& r) {
    r.phase = phase::kStopped;
    r.reason = reason::kCheckpointed;
    r.message = message;
    r.checkpoint_json = CheckpointToJson(image);
    r.monitor_pid = 0;
  }).IgnoreError();
  spdlog::info("recovery: sandbox {}: {}", e->id, message);
}

void SandboxManager::RecoverStopping(const EntryPtr& e, bool alive, int sandbox_pid) {
  const std::string& rid = e->runsc_id;
  const std::string root = CheckpointRoot(rid);
  // Whatever happens below, no unsealed temporary survives it.
  struct DropTemporaries {
    std::string root;
    ~DropTemporaries() {
      std::error_code ec;
      for (const auto& entry : std::filesystem::directory_iterator(root, ec)) {
        if (entry.path().filename().string().rfind("tmp-", 0) == 0) {
          RemoveTree(entry.path().string()).IgnoreError();
        }
      }
    }
  } drop_temporaries{root};
  // The image was sealed (renamed into place) before the crash: finish.
  auto manifest = ReadManifest(root + "/image");
  if (manifest.ok() && manifest->created_at_ms >= Record(e).updated_at_ms &&
      VerifyCheckpoint(*manifest).ok()) {
    FinishRecoveredStop(e, *manifest);
    return;
  }
  if (alive) {
    // The `runsc checkpoint` we started may still be saving (the sandbox,
    // not the CLI we lost, does the work). Wait for it to settle.
    alive = !WaitForInterruptedCheckpoint(root, sandbox_pid);
    auto sealed = alive ? absl::StatusOr<CheckpointImage>(absl::NotFoundError(""))
                        : SealInterruptedCheckpoint(rid, root);
    if (sealed.ok()) {
      FinishRecoveredStop(e, *sealed);
      return;
    }
  }
  if (alive) {
    // The checkpoint never completed and the sandbox still runs: roll back.
    Transition(e, [](SandboxRecord& r) {
      r.phase = phase::kRunning;
      r.message = "Sandbox is running (a checkpoint was interrupted)";
    }).IgnoreError();
    Adopt(e, sandbox_pid);
    return;
  }
  StopWithoutMemory(e, "the driver stopped during a checkpoint").IgnoreError();
}

void SandboxManager::RecoverRecord(const EntryPtr& e,
                                   const std::map<std::string, ContainerState>& containers,
                                   std::vector<SandboxRequest>* reprovision) {
  const SandboxRecord r = Record(e);
  const std::string& rid = r.runsc_id;
  auto c = containers.find(rid);
  // Only "running" counts: a container left "created" by a launch that
  // never reached `runsc start` would never run its main process.
  bool alive = c != containers.end() && c->second.status == "running" && c->second.pid > 0 &&
               kill(c->second.pid, 0) == 0;
  int sandbox_pid = c != containers.end() ? c->second.pid : 0;

  if (r.phase == phase::kDeleting) {
    spdlog::info("recovery: sandbox {}: finishing an interrupted delete", r.id);
    Delete(r.id, "").IgnoreError();
    return;
  }
  if (r.phase == phase::kProvisioning || r.phase == phase::kStarting) {
    // A monitor we started just before the crash may still be creating or
    // restoring the container: let it finish before judging what is there.
    if (!alive && WaitForInterruptedLaunch(rid, &sandbox_pid)) alive = true;
  }
  if (r.phase == phase::kProvisioning && alive) {
    // It came up after all: nothing to redo.
    Transition(e, [&](SandboxRecord& rec) {
      rec.phase = phase::kRunning;
      rec.reason = reason::kBackendReady;
      rec.message = "Sandbox is running (started before a driver restart)";
    }).IgnoreError();
    Adopt(e, sandbox_pid);
    return;
  }
  if (r.phase == phase::kProvisioning) {
    // Provisioning was cut short: throw away the half-built runtime and do
    // it again; the gateway is still waiting for this sandbox.
    spdlog::info("recovery: sandbox {}: provisioning was interrupted; restarting it", r.id);
    ReleaseRuntime(rid);
    auto request = DecodeRequest(r.spec_json);
    if (!request.ok()) {
      Fail(e, reason::kContainerCreateFailed,
           absl::StrCat("stored request unreadable: ", request.status().message()));
      return;
    }
    reprovision->push_back(*request);
    return;
  }
  if (r.phase == phase::kStopping) {
    RecoverStopping(e, alive, sandbox_pid);
    return;
  }
  if (r.phase == phase::kStarting) {
    if (alive) {
      // The restore (or cold start) went through before the crash; the
      // image it came from is stale (Launch's own rule).
      Transition(e, [](SandboxRecord& rec) {
        rec.phase = phase::kRunning;
        rec.reason = reason::kBackendReady;
        rec.message = "Sandbox is running (started before a driver restart)";
        rec.checkpoint_json.clear();
      }).IgnoreError();
      Adopt(e, sandbox_pid);
    } else {
      // Roll back to stopped; the image (if any) is untouched until a
      // start succeeds, so Start can simply be retried.
      ReleaseRuntime(rid);
      Transition(e, [](SandboxRecord& rec) {
        rec.phase = phase::kStopped;
        rec.message = "A start was interrupted by a driver restart; the sandbox is stopped "
                      "and its checkpoint (if any) is kept";
      }).IgnoreError();
      spdlog::info("recovery: sandbox {}: an interrupted start was rolled back to stopped", r.id);
    }
    return;
  }
  if (r.phase == phase::kStopped) {
    // A crash right after a Stop can leave its monitor still reaping.
    WaitForMonitorEnd(rid);
    if (c != containers.end()) ReleaseRuntime(rid);
    return;
  }
  if (r.phase != phase::kRunning) return;  // exited / failed: terminal, kept

  auto exit = ReadExitRecord(d_.layout.exit_file(rid));
  if (exit.ok() && exit->has_value()) {
    // It ended while we were away; the monitor kept the code for us.
    std::string message = absl::StrCat(DescribeExit((*exit)->exit_code), " while the driver was down");
    AppendLastOutput(rid, &message);
    ReleaseRuntime(rid);
    Transition(e, [&](SandboxRecord& rec) {
      rec.phase = phase::kExited;
      rec.reason = reason::kProcessExited;
      rec.message = message;
      rec.exit_code = (*exit)->exit_code;
      rec.monitor_pid = 0;
    }).IgnoreError();
    spdlog::info("recovery: sandbox {}: {}", r.id, message);
    return;
  }
  if (alive) {
    Adopt(e, sandbox_pid);
    return;
  }
  std::string message =
      c == containers.end()
          ? "the sandbox's runsc container disappeared while the driver was down (host reboot?)"
          : absl::StrCat("the sandbox stopped while the driver was down (state ",
                         c->second.status, "); its exit code is unknown");
  ReleaseRuntime(rid);
  Fail(e, c == containers.end() ? reason::kSandboxLost : reason::kProcessExited, message);
}

}  // namespace osgv
