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
  explicit WatchReactor(const WatchOpener& open) {
    // The opener and the subscription's notifications may call back on any
    // thread, possibly after this reactor is gone: they go through a guard
    // that OnDone clears.
    guard_ = std::make_shared<Guard>();
    guard_->self = this;
    std::weak_ptr<Guard> weak = guard_;
    open([weak](const grpc::Status& status, WatchStart start) {
      if (auto g = weak.lock()) {
        std::lock_guard<std::mutex> lock(g->mu);
        if (g->self) return g->self->Begin(status, std::move(start));
      }
      // The stream ended while it waited (the client went away).
      if (start.subscription) start.subscription->Close();
    });
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
    if (sub_) sub_->SetNotify({});
    if (!writing_) FinishOnce(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    std::shared_ptr<Subscription> sub;
    {
      std::lock_guard<std::mutex> lock(guard_->mu);
      guard_->self = nullptr;  // a late Begin finds nobody
      sub = sub_;
    }
    if (sub) {
      sub->SetNotify({});
      sub->Close();
    }
    delete this;
  }

 private:
  struct Guard {
    std::mutex mu;
    WatchReactor* self = nullptr;
  };

  // The opener's answer. Called with guard_->mu held.
  void Begin(const grpc::Status& status, WatchStart start) {
    if (!status.ok()) {
      FinishOnce(status);
      return;
    }
    if (finished_) {  // cancelled while it waited
      if (start.subscription) start.subscription->Close();
      return;
    }
    sub_ = std::move(start.subscription);
    for (auto& snap : start.snapshots) {
      WatchEvent e;
      e.kind = WatchEvent::Kind::kSandbox;
      e.sandbox = std::move(snap);
      initial_.push_back(std::move(e));
    }
    std::weak_ptr<Guard> weak = guard_;
    sub_->SetNotify([weak] {
      if (auto g = weak.lock()) {
        std::lock_guard<std::mutex> lock(g->mu);
        if (g->self) g->self->Pump();
      }
    });
    Pump();
  }

  // Starts the next write if none is in flight. Called with guard_->mu held.
  void Pump() {
    if (writing_ || finished_ || !sub_) return;
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

}  // namespace

grpc::ServerWriteReactor<OpenShellEvent>* NewWatchReactor(const WatchOpener& open) {
  return new WatchReactor<OpenShellEvent>(open);
}

grpc::ServerWriteReactor<RynoEvent>* NewRynoWatchReactor(const WatchOpener& open) {
  return new WatchReactor<RynoEvent>(open);
}

}  // namespace osgv
