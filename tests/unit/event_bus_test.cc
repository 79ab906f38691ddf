#include "lifecycle/events/event_bus.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "openshell_gvisor/sandbox.h"

namespace osgv {
namespace {

WatchEvent Deleted(const std::string& id) {
  WatchEvent e;
  e.kind = WatchEvent::Kind::kDeleted;
  e.sandbox_id = id;
  return e;
}

// Everything currently queued, by sandbox_id.
std::vector<std::string> Drain(Subscription& sub) {
  std::vector<std::string> out;
  WatchEvent e;
  while (sub.TryPop(&e)) out.push_back(e.sandbox_id);
  return out;
}

TEST_CASE("an empty subscription pops nothing", "[event_bus]") {
  EventBus bus(4);
  auto sub = bus.Subscribe();
  WatchEvent e;
  CHECK_FALSE(sub->TryPop(&e));
  CHECK_FALSE(sub->closed());
  CHECK_FALSE(sub->overflowed());
}

TEST_CASE("every subscriber receives every event, in order", "[event_bus]") {
  EventBus bus(16);
  auto a = bus.Subscribe();
  auto b = bus.Subscribe();
  auto c = bus.Subscribe();
  CHECK(bus.subscriber_count() == 3);
  for (const char* id : {"one", "two", "three"}) bus.Publish(Deleted(id));
  const std::vector<std::string> want = {"one", "two", "three"};
  CHECK(Drain(*a) == want);
  CHECK(Drain(*b) == want);
  CHECK(Drain(*c) == want);
}

TEST_CASE("events keep their payload", "[event_bus]") {
  EventBus bus(4);
  auto sub = bus.Subscribe();
  WatchEvent e;
  e.kind = WatchEvent::Kind::kPlatformEvent;
  e.sandbox_id = "sb";
  e.event.reason = "Pulled";
  e.event.type = "Normal";
  e.event.metadata = {{"k", "v"}};
  bus.Publish(e);
  WatchEvent got;
  REQUIRE(sub->TryPop(&got));
  CHECK(got.kind == WatchEvent::Kind::kPlatformEvent);
  CHECK(got.sandbox_id == "sb");
  CHECK(got.event.reason == "Pulled");
  CHECK(got.event.type == "Normal");
  CHECK(got.event.metadata == std::map<std::string, std::string>{{"k", "v"}});
}

TEST_CASE("a subscriber only sees events published after it subscribed", "[event_bus]") {
  EventBus bus(8);
  auto early = bus.Subscribe();
  bus.Publish(Deleted("before"));
  auto late = bus.Subscribe();
  bus.Publish(Deleted("after"));
  CHECK(Drain(*early) == std::vector<std::string>{"before", "after"});
  CHECK(Drain(*late) == std::vector<std::string>{"after"});
}

TEST_CASE("notify runs on every push and on close", "[event_bus]") {
  EventBus bus(8);
  auto sub = bus.Subscribe();
  int calls = 0;
  sub->SetNotify([&calls] { ++calls; });
  bus.Publish(Deleted("a"));
  CHECK(calls == 1);
  bus.Publish(Deleted("b"));
  CHECK(calls == 2);
  sub->Close();
  CHECK(calls == 3);
  CHECK(sub->closed());
  // Closing twice notifies once.
  sub->Close();
  CHECK(calls == 3);
  // A closed subscription receives nothing more and is not notified.
  bus.Publish(Deleted("c"));
  CHECK(calls == 3);
  CHECK(Drain(*sub) == std::vector<std::string>{"a", "b"});
}

TEST_CASE("notify may pop from the subscription without deadlocking", "[event_bus]") {
  EventBus bus(8);
  auto sub = bus.Subscribe();
  std::vector<std::string> seen;
  sub->SetNotify([&] {
    WatchEvent e;
    while (sub->TryPop(&e)) seen.push_back(e.sandbox_id);
    (void)sub->closed();
  });
  bus.Publish(Deleted("x"));
  bus.Publish(Deleted("y"));
  CHECK(seen == std::vector<std::string>{"x", "y"});
  sub->SetNotify({});  // break the sub -> lambda -> sub cycle
}

TEST_CASE("SetNotify({}) detaches the callback", "[event_bus]") {
  EventBus bus(8);
  auto sub = bus.Subscribe();
  int calls = 0;
  sub->SetNotify([&calls] { ++calls; });
  bus.Publish(Deleted("a"));
  REQUIRE(calls == 1);
  sub->SetNotify({});
  bus.Publish(Deleted("b"));
  sub->Close();
  CHECK(calls == 1);
  CHECK(Drain(*sub) == std::vector<std::string>{"a", "b"});
}

TEST_CASE("a slow subscriber overflows alone and the others keep receiving", "[event_bus]") {
  constexpr size_t kCapacity = 3;
  EventBus bus(kCapacity);
  auto slow = bus.Subscribe();
  auto fast = bus.Subscribe();
  int slow_notified = 0;
  slow->SetNotify([&slow_notified] { ++slow_notified; });

  std::vector<std::string> fast_seen;
  // Exactly capacity events fit.
  for (size_t i = 0; i < kCapacity; ++i) {
    bus.Publish(Deleted("e" + std::to_string(i)));
    auto got = Drain(*fast);
    fast_seen.insert(fast_seen.end(), got.begin(), got.end());
  }
  CHECK_FALSE(slow->overflowed());
  CHECK_FALSE(slow->closed());
  CHECK(bus.subscriber_count() == 2);

  // One more: the slow one is over capacity.
  bus.Publish(Deleted("e3"));
  CHECK(slow->overflowed());
  CHECK(slow->closed());
  CHECK(slow_notified == static_cast<int>(kCapacity) + 1);  // told it ended
  // The fast one is untouched and keeps going.
  CHECK_FALSE(fast->overflowed());
  CHECK_FALSE(fast->closed());
  for (int i = 4; i < 10; ++i) {
    auto got = Drain(*fast);  // keeps up: never more than capacity behind
    fast_seen.insert(fast_seen.end(), got.begin(), got.end());
    bus.Publish(Deleted("e" + std::to_string(i)));
  }
  auto rest = Drain(*fast);
  fast_seen.insert(fast_seen.end(), rest.begin(), rest.end());
  CHECK_FALSE(fast->closed());
  std::vector<std::string> want;
  for (int i = 0; i < 10; ++i) want.push_back("e" + std::to_string(i));
  CHECK(fast_seen == want);

  // The overflowed subscription is gone from the bus and got nothing after.
  CHECK(bus.subscriber_count() == 1);
  // Its backlog is dropped too, so its stream ends (RESOURCE_EXHAUSTED) at
  // once instead of replaying a stale prefix first.
  CHECK(Drain(*slow).empty());
}

TEST_CASE("a subscriber that keeps up never overflows", "[event_bus]") {
  EventBus bus(1);
  auto sub = bus.Subscribe();
  for (int i = 0; i < 100; ++i) {
    bus.Publish(Deleted(std::to_string(i)));
    WatchEvent e;
    REQUIRE(sub->TryPop(&e));
    CHECK(e.sandbox_id == std::to_string(i));
  }
  CHECK_FALSE(sub->overflowed());
  CHECK_FALSE(sub->closed());
}

TEST_CASE("CloseAll closes every subscription and empties the bus", "[event_bus]") {
  EventBus bus(8);
  auto a = bus.Subscribe();
  auto b = bus.Subscribe();
  int a_notified = 0;
  a->SetNotify([&a_notified] { ++a_notified; });
  bus.Publish(Deleted("queued"));
  bus.CloseAll();
  CHECK(a->closed());
  CHECK(b->closed());
  CHECK_FALSE(a->overflowed());
  CHECK_FALSE(b->overflowed());
  CHECK(a_notified == 2);  // the event, then the close
  CHECK(bus.subscriber_count() == 0);
  // Events queued before the close can still be drained (a clean finish).
  CHECK(Drain(*a) == std::vector<std::string>{"queued"});
  bus.Publish(Deleted("after"));
  CHECK(Drain(*b) == std::vector<std::string>{"queued"});
}

TEST_CASE("closed subscriptions are pruned on the next publish", "[event_bus]") {
  EventBus bus(8);
  auto a = bus.Subscribe();
  auto b = bus.Subscribe();
  auto c = bus.Subscribe();
  REQUIRE(bus.subscriber_count() == 3);
  b->Close();
  // Closing alone does not touch the bus...
  CHECK(bus.subscriber_count() == 3);
  // ...the next publish drops it.
  bus.Publish(Deleted("x"));
  CHECK(bus.subscriber_count() == 2);
  CHECK(Drain(*a) == std::vector<std::string>{"x"});
  CHECK(Drain(*b).empty());
  CHECK(Drain(*c) == std::vector<std::string>{"x"});
}

TEST_CASE("a dropped subscription does not keep the bus from publishing", "[event_bus]") {
  EventBus bus(8);
  auto keep = bus.Subscribe();
  {
    auto gone = bus.Subscribe();
    gone->Close();
  }
  bus.Publish(Deleted("x"));
  CHECK(bus.subscriber_count() == 1);
  CHECK(Drain(*keep) == std::vector<std::string>{"x"});
}

TEST_CASE("concurrent publishers and one consumer", "[event_bus][threads]") {
  constexpr int kPublishers = 4;
  constexpr int kPerPublisher = 2000;
  EventBus bus(kPublishers * kPerPublisher);  // never overflows
  auto sub = bus.Subscribe();
  auto other = bus.Subscribe();

  std::atomic<int> notified{0};
  sub->SetNotify([&notified] { notified.fetch_add(1, std::memory_order_relaxed); });

  std::atomic<bool> done{false};
  std::vector<int> next(kPublishers, 0);  // per-publisher next expected seq
  int received = 0;
  bool in_order = true;
  std::thread consumer([&] {
    WatchEvent e;
    while (true) {
      if (!sub->TryPop(&e)) {
        // Publishers finished before `done` was set: one last look suffices.
        if (done.load()) {
          if (!sub->TryPop(&e)) break;
        } else {
          std::this_thread::yield();
          continue;
        }
      }
      // sandbox_id is "<publisher>:<seq>".
      auto colon = e.sandbox_id.find(':');
      int p = std::stoi(e.sandbox_id.substr(0, colon));
      int seq = std::stoi(e.sandbox_id.substr(colon + 1));
      if (seq != next[p]) in_order = false;
      next[p] = seq + 1;
      ++received;
    }
  });

  std::vector<std::thread> publishers;
  for (int p = 0; p < kPublishers; ++p) {
    publishers.emplace_back([&bus, p] {
      for (int i = 0; i < kPerPublisher; ++i) {
        bus.Publish(Deleted(std::to_string(p) + ":" + std::to_string(i)));
      }
    });
  }
  // Subscribing and closing concurrently with publishing must be safe too.
  std::thread churn([&bus] {
    for (int i = 0; i < 200; ++i) {
      auto s = bus.Subscribe();
      if (i % 2 == 0) s->Close();
    }
  });
  for (auto& t : publishers) t.join();
  churn.join();
  done.store(true);
  consumer.join();

  CHECK(in_order);
  CHECK(received == kPublishers * kPerPublisher);
  for (int p = 0; p < kPublishers; ++p) CHECK(next[p] == kPerPublisher);
  CHECK(notified.load() == kPublishers * kPerPublisher);
  CHECK_FALSE(sub->overflowed());
  CHECK(Drain(*other).size() == static_cast<size_t>(kPublishers * kPerPublisher));
}

}  // namespace
}  // namespace osgv
