#include "cli/run/ephemeral_session.h"

#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "cli/stdio_passthrough.h"
#include "lifecycle/fs_util.h"
#include "lifecycle/image/busybox_image.h"
#include "lifecycle/random_hex.h"
#include "lifecycle/runsc/cgroups.h"
#include "lifecycle/sandbox_status.h"

namespace osgv {
namespace {

constexpr auto kBootTimeout = std::chrono::seconds(120);
constexpr auto kEmergencyTimeout = std::chrono::seconds(10);

absl::StatusOr<std::string> MakeTemporaryStateDir() {
  for (const char* base : {"/var/tmp", "/tmp"}) {
    std::string tmpl = absl::StrCat(base, "/osgv-run-XXXXXX");
    if (mkdtemp(tmpl.data()) != nullptr) {  // mkdtemp makes it 0700
      return tmpl;
    }
  }
  return absl::InternalError(absl::StrCat("cannot create a state dir in /var/tmp or /tmp: ",
                                          strerror(errno)));
}

}  // namespace

absl::StatusOr<std::string> EphemeralName(const std::string& prefix) {
  auto hex = RandomHex(6);
  if (!hex.ok()) return hex.status();
  return absl::StrCat(prefix, "-", *hex);
}

InterruptHandler HandleInterrupts(EphemeralSession& session) {
  return InterruptHandler([&session](int) { session.Interrupt(); },
                          [&session](int sig) {
                            session.EmergencyCleanup();
                            _exit(128 + sig);
                          });
}

absl::StatusOr<std::unique_ptr<EphemeralSession>> EphemeralSession::Open(const RunOptions& options) {
  std::unique_ptr<EphemeralSession> s(new EphemeralSession());
  s->options_ = options;
  if (options.state_dir.empty()) {
    auto dir = MakeTemporaryStateDir();
    if (!dir.ok()) return dir.status();
    s->state_dir_ = *dir;
    s->temporary_ = true;
  } else {
    s->state_dir_ = options.state_dir;
  }
  auto config = RunConfig(options, s->state_dir_);
  if (!config.ok()) {
    s->Cleanup().IgnoreError();
    return config.status();
  }
  auto rt = OpenDriverRuntime(*config);
  if (!rt.ok()) {
    s->Cleanup().IgnoreError();
    return rt.status();
  }
  s->rt_ = *std::move(rt);
  // What serve does at startup: the host network (bridge, firewall) when
  // networked, and adoption of whatever an earlier --state-dir run kept.
  if (auto st = s->rt_->manager->Recover(); !st.ok()) {
    s->Cleanup().IgnoreError();
    return st;
  }
  s->runsc_options_ = s->rt_->runsc->options();
  s->runsc_features_ = s->rt_->features;
  return s;
}

EphemeralSession::~EphemeralSession() {
  if (keep_) {
    rt_.reset();
    return;
  }
  Cleanup().IgnoreError();
}

absl::StatusOr<std::string> EphemeralSession::ResolveImage() {
  if (!options_.image.empty()) return options_.image;
  return EnsureBusyboxImage(&rt_->runner, kDefaultImageCacheDir);
}

absl::StatusOr<SandboxRecord> EphemeralSession::Boot(const SandboxRequest& request) {
  if (interrupted_) return absl::CancelledError("interrupted");
  if (auto st = rt_->manager->Create(request); !st.ok()) return st;
  auto deadline = std::chrono::steady_clock::now() + kBootTimeout;
  while (true) {
    auto record = rt_->manager->Find(request.id);
    if (!record.ok()) return record.status();  // deleted by an interrupt
    if (record->phase == phase::kRunning) return *record;
    if (record->phase != phase::kProvisioning) {
      Delete(request.id).IgnoreError();
      return absl::FailedPreconditionError(
          absl::StrCat("sandbox did not start: ", record->reason, ": ", record->message));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      Delete(request.id).IgnoreError();
      return absl::DeadlineExceededError("sandbox did not start within 120s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

absl::StatusOr<CommandResult> EphemeralSession::Exec(const std::string& runsc_id,
                                                     const std::vector<std::string>& argv,
                                                     std::chrono::milliseconds timeout) {
  Command c;
  c.argv = rt_->runsc->ExecArgv(runsc_id, argv);
  c.timeout = timeout;
  return rt_->runner.Run(c);
}

absl::StatusOr<CommandResult> EphemeralSession::ExecAttached(const std::string& runsc_id,
                                                             const std::vector<std::string>& argv) {
  // No timeout of our own: the command runs as long as the user wants.
  return RunAttached(&rt_->runner, rt_->runsc->ExecArgv(runsc_id, argv),
                     std::chrono::hours(24 * 365));
}

absl::Status EphemeralSession::Delete(const std::string& sandbox_id) {
  return rt_->manager->Delete(sandbox_id, "").status();
}

absl::Status EphemeralSession::DeleteAll() {
  absl::Status first;
  if (!rt_) return first;
  for (const auto& s : rt_->manager->List()) first.Update(Delete(s.id));
  return first;
}

void EphemeralSession::Interrupt() {
  interrupted_ = true;
  DeleteAll().IgnoreError();
}

absl::Status EphemeralSession::Cleanup() {
  std::lock_guard<std::mutex> lock(cleanup_mu_);
  if (cleaned_) return absl::OkStatus();
  cleaned_ = true;
  absl::Status st = DeleteAll();
  rt_.reset();  // stops the manager and releases the state-dir lock
  if (temporary_ && st.ok()) st = RemoveTree(state_dir_);
  return st;
}

void EphemeralSession::EmergencyCleanup() {
  if (keep_) return;
  // Nothing of rt_: the main thread may be tearing it down right now.
  ProcessRunner runner;
  RunscOptions ro = runsc_options_;
  ro.timeout = kEmergencyTimeout;
  Runsc runsc(&runner, ro);
  runsc.SetFeatures(runsc_features_);
  if (auto list = runsc.List(); list.ok()) {
    for (const auto& c : *list) {
      runsc.Delete(c.id, /*force=*/true).IgnoreError();
      RemoveLeakedCgroups("/sys/fs/cgroup", c.id);
    }
  }
  OverlayMounter mounter;
  for (const auto& m : mounter.MountsUnder(state_dir_)) umount2(m.c_str(), MNT_DETACH);
  if (temporary_) RemoveTree(state_dir_).IgnoreError();
}

}  // namespace osgv
