// SandboxManager: how operations are run. Each sandbox's operations
// (provisioning, Stop, Start, exit handling, release, Delete) wait in its
// serial queue and run on the bounded pool of OperationQueue; an RPC waits
// for its own operation only, and only until its deadline (docs/lifecycle.md,
// "Deadlines"). Also the bounded Shutdown and the background error.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "lifecycle/log_context.h"
#include "lifecycle/sandbox_manager.h"

namespace osgv {
namespace {

// Answers the operation's waiters when its task is destroyed without having
// run (the queue was closed): shared by every copy of the task.
class AnswerIfDropped {
 public:
  explicit AnswerIfDropped(std::shared_ptr<OperationResult> result) : result_(std::move(result)) {}
  AnswerIfDropped(const AnswerIfDropped&) = delete;
  AnswerIfDropped& operator=(const AnswerIfDropped&) = delete;
  ~AnswerIfDropped() {
    result_->Complete(
        absl::UnavailableError("the driver shut down before the operation began"));
  }

 private:
  std::shared_ptr<OperationResult> result_;
};

}  // namespace

namespace {

// Queued work logs under the trace id of the call that queued it, and its
// error (a failed commit was latched where it happened) is not lost.
OperationQueue::Task Logged(const std::string& id, const char* what,
                            std::function<absl::Status()> task) {
  return [id, what, task = std::move(task), trace = CurrentTraceId()] {
    ScopedTraceId scoped(trace);
    if (auto st = task(); !st.ok()) spdlog::warn("sandbox {}: {}: {}", id, what, st.ToString());
  };
}

}  // namespace

bool SandboxManager::Enqueue(const std::string& id, const char* what,
                             std::function<absl::Status()> task) {
  return queue_.Submit(id, Logged(id, what, std::move(task)));
}

bool SandboxManager::EnqueueIfIdle(const std::string& id, const char* what,
                                   std::function<absl::Status()> task) {
  return queue_.SubmitIfIdle(id, Logged(id, what, std::move(task)));
}

OperationResult::Value SandboxManager::RunOperation(
    const EntryPtr& e, OpKind kind, const char* rpc,
    std::function<OperationResult::Value()> body, Deadline deadline) {
  if (Deadline::clock::now() >= deadline) {
    return absl::DeadlineExceededError(
        absl::StrCat(rpc, ": the deadline passed before it began; nothing was changed"));
  }
  std::shared_ptr<OperationResult> result;
  {
    std::lock_guard<std::mutex> lock(ops_mu_);
    // A retry while the same operation is still the sandbox's last one
    // joins it; after anything else it follows, and finds the work done.
    if (e->last_op && e->last_op_kind == kind && !e->last_op->done()) {
      result = e->last_op;
    } else {
      result = std::make_shared<OperationResult>();
      auto dropped = std::make_shared<AnswerIfDropped>(result);
      // Its error goes to whoever waits, or shows in Get and Watch.
      bool queued = Enqueue(e->id, rpc, [this, e, result, dropped, body = std::move(body)] {
        result->Complete(body());
        std::lock_guard<std::mutex> lock(ops_mu_);
        if (e->last_op == result) e->last_op.reset();
        return absl::OkStatus();
      });
      if (!queued) return absl::UnavailableError("driver is shutting down");
      e->last_op = result;
      e->last_op_kind = kind;
      waited_.erase(std::remove_if(waited_.begin(), waited_.end(),
                                   [](const auto& w) { return w.expired(); }),
                    waited_.end());
      waited_.push_back(result);
    }
  }
  if (auto answer = result->Wait(deadline)) return *answer;
  return absl::DeadlineExceededError(absl::StrCat(
      rpc, ": sandbox '", e->id, "': the deadline passed while the operation was still ",
      "queued or running; it goes on, its outcome shows in GetSandbox and WatchSandboxes, "
      "and a retry waits for it"));
}

absl::Status SandboxManager::AcceptingChanges() const {
  if (shutting_down_) return absl::UnavailableError("driver is shutting down");
  if (auto bg = BackgroundError(); !bg.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "driver: a state commit failed (", bg.message(),
        "); it changes no sandbox until it is restarted once the disk is fixed"));
  }
  return absl::OkStatus();
}

absl::Status SandboxManager::BackgroundError() const {
  std::lock_guard<std::mutex> lock(bg_mu_);
  return bg_error_;
}

void SandboxManager::OnBackgroundError(std::function<void(const absl::Status&)> listener) {
  std::lock_guard<std::mutex> lock(bg_mu_);
  bg_listener_ = std::move(listener);
}

void SandboxManager::LatchBackgroundError(const absl::Status& error) {
  std::function<void(const absl::Status&)> listener;
  {
    std::lock_guard<std::mutex> lock(bg_mu_);
    if (!bg_error_.ok()) return;
    bg_error_ = error;
    listener = bg_listener_;
  }
  spdlog::critical("background error: {}; health is NOT_SERVING and no sandbox is changed "
                   "until the driver is restarted", std::string(error.message()));
  if (listener) listener(error);
}

bool SandboxManager::Shutdown(std::chrono::milliseconds bound) {
  const auto start = OperationQueue::Clock::now();
  std::thread idle;
  {
    std::unique_lock<std::mutex> lock(shutdown_mu_);
    if (shutting_down_) {  // a second call (the destructor's) gets the first's answer
      shutdown_cv_.wait(lock, [this] { return shut_down_.has_value(); });
      return *shut_down_;
    }
    shutting_down_ = true;
    idle = std::move(idle_thread_);  // none can start from now on
  }
  idle_ticker_->Stop();  // ends the idle loop's wait
  if (idle.joinable()) idle.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, e] : entries_) e->cancel = true;
  }
  queue_.Close();  // queued operations are dropped; their callers hear so
  bool ended = queue_.WaitUntilIdle(start + bound * 4 / 5);
  if (!ended && d_.tools != nullptr) {
    spdlog::warn("shutdown: operations still run after {} ms; killing the commands they wait for",
                 (bound * 4 / 5).count());
    d_.tools->AbandonAll();
    ended = queue_.WaitUntilIdle(start + bound);
  }
  std::vector<std::shared_ptr<OperationResult>> unanswered;
  {
    std::lock_guard<std::mutex> lock(ops_mu_);
    for (const auto& w : waited_) {
      if (auto r = w.lock()) unanswered.push_back(r);
    }
  }
  for (const auto& r : unanswered) {
    r->Complete(absl::UnavailableError(
        "the driver shut down before the operation finished; recovery at its next start "
        "finishes or rolls it back"));
  }
  if (!ended) {
    spdlog::error("shutdown: an operation did not end within {} ms; the next start's recovery "
                  "finishes or rolls it back", bound.count());
  }
  {
    std::lock_guard<std::mutex> lock(shutdown_mu_);
    shut_down_ = ended;
  }
  shutdown_cv_.notify_all();
  return ended;
}

}  // namespace osgv
