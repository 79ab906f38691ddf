#include "driver/watch_reactor.h"

#include <spdlog/spdlog.h>

#include <deque>
#include <memory>
#include <mutex>

#include "driver/proto_convert.h"
#include "driver/recode.h"

namespace osgv {
namespace {

using OpenShellEvent = ::openshell::compute::v1::WatchSandboxesEvent;
using RynoEvent = ::ryno::compute::v1::WatchSandboxesEvent;

void Encode(const WatchEvent& event, OpenShellEvent* out) { ToProto(event, out); }

void Encode(const WatchEvent& event, RynoEvent* out) {
  OpenShellEvent superset;
  ToProto(event, &superset);
  Recode(superset, out);
}

template <class Event>
class WatchReactor : public grpc::ServerWriteReactor<Event> {
 public:
  explicit WatchReactor(WatchStart start) : sub_(std::move(start.subscription)) {
    for (auto& snap : start.snapshots) {
      WatchEvent e;
      e.kind = WatchEvent::Kind::kSandbox;
      e.sandbox = std::move(snap);
      initial_.push_back(std::move(e));
    }
    // The notification may fire on any publisher thread, possibly after
    // this reactor is gone: it goes through a guard that OnDone clears.
    guard_ = std::make_shared<Guard>();
    guard_->self = this;
    std::weak_ptr<Guard> weak = guard_;
    sub_->SetNotify([weak] {
      if (auto g = weak.lock()) {
        std::lock_guard<std::mutex> lock(g->mu);
        if (g->self) g->self->Pump();
      }
    });
    std::lock_guard<std::mutex> lock(guard_->mu);
    Pump();
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(guard_->mu);
    writing_ = false;
    if (!ok) {
      // The client went away; nothing more can be written.
      FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "watch stream closed by the client"));
      return;
    }
    Pump();
  }

  void OnCancel() override {
    std::lock_guard<std::mutex> lock(guard_->mu);
    cancelled_ = true;
    sub_->SetNotify({});
    if (!writing_) FinishOnce(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    sub_->SetNotify({});
    sub_->Close();
    {
      std::lock_guard<std::mutex> lock(guard_->mu);
      guard_->self = nullptr;
    }
    delete this;
  }

 private:
  struct Guard {
    std::mutex mu;
    WatchReactor* self = nullptr;
  };

  // Starts the next write if none is in flight. Called with guard_->mu held.
  void Pump() {
    if (writing_ || finished_) return;
    if (cancelled_) {
      FinishOnce(grpc::Status::CANCELLED);
      return;
    }
    WatchEvent next;
    bool have = false;
    if (!initial_.empty()) {
      next = std::move(initial_.front());
      initial_.pop_front();
      have = true;
    } else {
      have = sub_->TryPop(&next);
    }
    if (have) {
      msg_.Clear();
      Encode(next, &msg_);
      writing_ = true;
      this->StartWrite(&msg_);
      return;
    }
    if (sub_->overflowed()) {
      spdlog::warn("watch: a watcher fell too far behind; ending its stream so it resyncs");
      FinishOnce(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                              "watch stream fell too far behind; reopen it for a fresh snapshot"));
    } else if (sub_->closed()) {
      FinishOnce(grpc::Status::OK);  // driver shutdown: end cleanly
    }
  }

  void FinishOnce(const grpc::Status& status) {
    if (finished_) return;
    finished_ = true;
    this->Finish(status);
  }

  std::shared_ptr<Subscription> sub_;
  std::shared_ptr<Guard> guard_;
  std::deque<WatchEvent> initial_;
  Event msg_;
  bool writing_ = false;
  bool finished_ = false;
  bool cancelled_ = false;
};

template <class Event>
class FailedReactor : public grpc::ServerWriteReactor<Event> {
 public:
  explicit FailedReactor(const grpc::Status& status) { this->Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerWriteReactor<OpenShellEvent>* NewWatchReactor(WatchStart start) {
  return new WatchReactor<OpenShellEvent>(std::move(start));
}

grpc::ServerWriteReactor<OpenShellEvent>* FailedWatch(const grpc::Status& status) {
  return new FailedReactor<OpenShellEvent>(status);
}

grpc::ServerWriteReactor<RynoEvent>* NewRynoWatchReactor(WatchStart start) {
  return new WatchReactor<RynoEvent>(std::move(start));
}

grpc::ServerWriteReactor<RynoEvent>* FailedRynoWatch(const grpc::Status& status) {
  return new FailedReactor<RynoEvent>(status);
}

}  // namespace osgv
