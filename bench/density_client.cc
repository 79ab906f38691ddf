// The client bench/density.sh drives the driver with: many RPCs on one
// connected channel (as a gateway keeps one), timed one by one on a
// monotonic clock, and a Watch stream for the events. It prints one JSON
// object per command; the script turns them into tables.
//
//   osgv_density_client SOCKET latency N [DRIVER_PID]
//       N times a ListSandboxes and a GetSandbox (over the listed ids);
//       with DRIVER_PID, also where the loop's time went: the CPU time the
//       driver's and this client's threads ran and waited for a CPU
//       (/proc/PID/task/*/schedstat), and the host's busy share.
//   osgv_density_client SOCKET watch IMAGE N
//       N times: CreateSandbox; time until the Watch stream carries its
//       first snapshot, and until Ready=True; then DeleteSandbox and wait
//       for its deletion on the stream.
//   osgv_density_client SOCKET create IMAGE N PREFIX
//       N CreateSandbox calls at once (a thread each); the time until all
//       are Ready=True on the Watch stream, or one failed.
#include <dirent.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "compute_driver.grpc.pb.h"

namespace {

namespace pb = ::openshell::compute::v1;
using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

std::unique_ptr<grpc::ClientContext> Context(int seconds = 60) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return ctx;
}

// "p50":..,"p99":..,"max":..,"n":.. of `ms` (nearest rank).
std::string Percentiles(std::vector<double> ms) {
  if (ms.empty()) return "\"n\":0";
  std::sort(ms.begin(), ms.end());
  auto rank = [&](double p) {
    size_t i = static_cast<size_t>(p * static_cast<double>(ms.size()) + 0.999999);
    return ms[std::min(ms.size(), std::max<size_t>(i, 1)) - 1];
  };
  char buf[160];
  std::snprintf(buf, sizeof(buf), "\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f,\"n\":%zu", rank(0.5),
                rank(0.99), ms.back(), ms.size());
  return buf;
}

int Fail(const std::string& what, const grpc::Status& st) {
  std::cerr << "density_client: " << what << ": " << st.error_code() << " " << st.error_message()
            << "\n";
  return 1;
}

pb::DriverSandbox NewSandbox(const std::string& name, const std::string& image) {
  static std::mt19937_64 rng(std::random_device{}());
  char id[40];
  std::snprintf(id, sizeof(id), "dens-%016llx", static_cast<unsigned long long>(rng()));
  pb::DriverSandbox s;
  s.set_id(id);
  s.set_name(name);
  s.set_workspace("default");
  s.mutable_spec()->mutable_template_()->set_image(image);
  return s;
}

// Ready=True (1), a failure (-1) or still on its way (0).
int ReadyState(const pb::DriverSandbox& s) {
  for (const auto& c : s.status().conditions()) {
    if (c.type() != "Ready") continue;
    if (c.status() == "True") return 1;
    return c.reason() == "Starting" ? 0 : -1;
  }
  return 0;
}

// A Watch stream read on its own thread; waiters ask for what it saw.
class Watcher {
 public:
  explicit Watcher(pb::ComputeDriver::Stub* stub) {
    reader_ = stub->WatchSandboxes(&ctx_, pb::WatchSandboxesRequest());
    thread_ = std::thread([this] { Run(); });
  }
  ~Watcher() {
    ctx_.TryCancel();
    thread_.join();
  }
  // Waits until `done` holds for what was seen (at most 10 minutes).
  template <typename Pred>
  bool WaitUntil(Pred done) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::minutes(10), [&] { return done(*this); });
  }
  // Guarded by mu_ (read inside WaitUntil's predicate).
  std::map<std::string, Clock::time_point> first_seen, ready_at, deleted_at;
  std::map<std::string, std::string> failed;

 private:
  void Run() {
    pb::WatchSandboxesEvent ev;
    while (reader_->Read(&ev)) {
      auto now = Clock::now();
      std::lock_guard<std::mutex> lock(mu_);
      if (ev.has_sandbox()) {
        const auto& s = ev.sandbox().sandbox();
        first_seen.emplace(s.id(), now);
        int r = ReadyState(s);
        if (r > 0) ready_at.emplace(s.id(), now);
        if (r < 0) failed.emplace(s.id(), "Ready=False, not Starting");
      } else if (ev.has_deleted()) {
        deleted_at.emplace(ev.deleted().sandbox_id(), now);
      }
      cv_.notify_all();
    }
  }
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<pb::WatchSandboxesEvent>> reader_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;
};

// Nanoseconds a thread has run on a CPU and waited in the run queue for
// one (the first two fields of its schedstat), by thread id.
struct SchedTimes {
  double run_ns = 0, wait_ns = 0;
};
using ThreadTimes = std::map<std::string, SchedTimes>;

ThreadTimes ThreadsOf(const std::string& pid) {
  ThreadTimes out;
  const std::string dir = "/proc/" + pid + "/task";
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream f(dir + "/" + e->d_name + "/schedstat");
    SchedTimes t;
    if (f >> t.run_ns >> t.wait_ns) out[e->d_name] = t;
  }
  closedir(d);
  return out;
}

// What the threads alive at the end did since `before`; a thread that
// started meanwhile counts from zero. One that ended meanwhile is missed
// (gRPC's server grows and shrinks its pool): the sums are lower bounds.
SchedTimes Since(const ThreadTimes& before, const ThreadTimes& after) {
  SchedTimes sum;
  for (const auto& [tid, t] : after) {
    auto b = before.find(tid);
    sum.run_ns += t.run_ns - (b == before.end() ? 0 : b->second.run_ns);
    sum.wait_ns += t.wait_ns - (b == before.end() ? 0 : b->second.wait_ns);
  }
  return sum;
}

// The host's busy and total jiffies (/proc/stat's first line; idle and
// iowait are not busy).
std::pair<double, double> HostTicks() {
  std::ifstream f("/proc/stat");
  std::string cpu;
  f >> cpu;
  double v, busy = 0, total = 0;
  for (int i = 0; f >> v && i < 10; ++i) {
    total += v;
    if (i != 3 && i != 4) busy += v;
  }
  return {busy, total};
}

// Where a loop's wall time went: a sample before, Json() after.
class LoopAccount {
 public:
  explicit LoopAccount(std::string driver_pid)
      : pid_(std::move(driver_pid)), t0_(Clock::now()), host0_(HostTicks()),
        driver0_(ThreadsOf(pid_)), client0_(ThreadsOf("self")) {}
  std::string Json() const {
    const double wall = MsSince(t0_);
    const auto host = HostTicks();
    const SchedTimes d = Since(driver0_, ThreadsOf(pid_)), c = Since(client0_, ThreadsOf("self"));
    char buf[320];
    std::snprintf(buf, sizeof(buf),
                  "\"loop_ms\":%.1f,\"host_busy_pct\":%.1f,\"driver_run_ms\":%.1f,"
                  "\"driver_wait_ms\":%.1f,\"client_run_ms\":%.1f,\"client_wait_ms\":%.1f",
                  wall, 100.0 * (host.first - host0_.first) / std::max(1.0, host.second - host0_.second),
                  d.run_ns / 1e6, d.wait_ns / 1e6, c.run_ns / 1e6, c.wait_ns / 1e6);
    return buf;
  }

 private:
  std::string pid_;
  Clock::time_point t0_;
  std::pair<double, double> host0_;
  ThreadTimes driver0_, client0_;
};

// One ListSandboxes and one GetSandbox in turn, n times, so that both see
// the same moments of the host's load.
int Latency(pb::ComputeDriver::Stub* stub, int n, const std::string& driver_pid) {
  std::vector<double> list_ms, get_ms;
  std::vector<std::string> ids;
  std::optional<LoopAccount> account;
  if (!driver_pid.empty()) account.emplace(driver_pid);
  for (int i = 0; i < n; ++i) {
    pb::ListSandboxesResponse list;
    auto t0 = Clock::now();
    auto st = stub->ListSandboxes(Context().get(), {}, &list);
    list_ms.push_back(MsSince(t0));
    if (!st.ok()) return Fail("ListSandboxes", st);
    if (ids.empty()) {
      for (const auto& s : list.sandboxes()) ids.push_back(s.id());
      if (ids.empty()) ids.push_back("none");
    }
    pb::GetSandboxRequest req;
    req.set_sandbox_id(ids[static_cast<size_t>(i) % ids.size()]);
    pb::GetSandboxResponse got;
    t0 = Clock::now();
    st = stub->GetSandbox(Context().get(), req, &got);
    get_ms.push_back(MsSince(t0));
    if (!st.ok() && st.error_code() != grpc::StatusCode::NOT_FOUND) return Fail("GetSandbox", st);
  }
  double sum_ms = 0;
  for (double ms : list_ms) sum_ms += ms;
  for (double ms : get_ms) sum_ms += ms;
  std::cout << "{\"sandboxes\":" << ids.size() << ",\"list\":{" << Percentiles(list_ms)
            << "},\"get\":{" << Percentiles(get_ms) << "},\"calls_ms\":" << sum_ms;
  if (account) std::cout << ",\"account\":{" << account->Json() << "}";
  std::cout << "}\n";
  return 0;
}

int WatchLatency(pb::ComputeDriver::Stub* stub, const std::string& image, int n) {
  Watcher w(stub);
  std::vector<double> event_ms, rpc_ms, ready_ms, after_rpc_ms;
  for (int i = 0; i < n; ++i) {
    auto s = NewSandbox("dens-watch-" + std::to_string(i), image);
    pb::CreateSandboxRequest req;
    *req.mutable_sandbox() = s;
    pb::CreateSandboxResponse resp;
    auto t0 = Clock::now();
    auto st = stub->CreateSandbox(Context().get(), req, &resp);
    const auto rpc_end = Clock::now();
    rpc_ms.push_back(std::chrono::duration<double, std::milli>(rpc_end - t0).count());
    if (!st.ok()) return Fail("CreateSandbox", st);
    const std::string id = s.id();
    w.WaitUntil([&](Watcher& v) { return v.ready_at.count(id) || v.failed.count(id); });
    w.WaitUntil([&](Watcher& v) {
      event_ms.push_back(std::chrono::duration<double, std::milli>(v.first_seen[id] - t0).count());
      // The record is stored and published inside the RPC: the event
      // after the change is at most this late (negative: it came first).
      after_rpc_ms.push_back(
          std::chrono::duration<double, std::milli>(v.first_seen[id] - rpc_end).count());
      if (v.ready_at.count(id)) {
        ready_ms.push_back(std::chrono::duration<double, std::milli>(v.ready_at[id] - t0).count());
      }
      return true;
    });
    pb::DeleteSandboxRequest del;
    del.set_sandbox_id(id);
    pb::DeleteSandboxResponse dresp;
    st = stub->DeleteSandbox(Context().get(), del, &dresp);
    if (!st.ok()) return Fail("DeleteSandbox", st);
    w.WaitUntil([&](Watcher& v) { return v.deleted_at.count(id) > 0; });
  }
  std::cout << "{\"create_rpc\":{" << Percentiles(rpc_ms) << "},\"first_event\":{"
            << Percentiles(event_ms) << "},\"event_after_rpc\":{" << Percentiles(after_rpc_ms)
            << "},\"ready\":{" << Percentiles(ready_ms) << "}}\n";
  return 0;
}

int ConcurrentCreates(pb::ComputeDriver::Stub* stub, const std::string& image, int n,
                      const std::string& prefix) {
  Watcher w(stub);
  std::vector<pb::DriverSandbox> boxes;
  for (int i = 0; i < n; ++i) boxes.push_back(NewSandbox(prefix + std::to_string(i), image));
  std::vector<grpc::Status> results(boxes.size());
  std::vector<std::thread> threads;
  auto t0 = Clock::now();
  for (size_t i = 0; i < boxes.size(); ++i) {
    threads.emplace_back([&, i] {
      pb::CreateSandboxRequest req;
      *req.mutable_sandbox() = boxes[i];
      pb::CreateSandboxResponse resp;
      results[i] = stub->CreateSandbox(Context(600).get(), req, &resp);
    });
  }
  for (auto& t : threads) t.join();
  double rpcs_ms = MsSince(t0);
  int rejected = 0;
  std::set<std::string> pending;
  for (size_t i = 0; i < boxes.size(); ++i) {
    if (results[i].ok()) {
      pending.insert(boxes[i].id());
    } else {
      ++rejected;
      std::cerr << "density_client: CreateSandbox " << boxes[i].name() << ": "
                << results[i].error_message() << "\n";
    }
  }
  int failed = 0;
  std::vector<double> ready_ms;
  w.WaitUntil([&](Watcher& v) {
    for (const auto& id : pending) {
      if (!v.ready_at.count(id) && !v.failed.count(id)) return false;
    }
    for (const auto& id : pending) {
      if (v.ready_at.count(id)) {
        ready_ms.push_back(std::chrono::duration<double, std::milli>(v.ready_at[id] - t0).count());
      } else {
        ++failed;
        std::cerr << "density_client: " << id << " failed: " << v.failed[id] << "\n";
      }
    }
    return true;
  });
  double total = ready_ms.empty() ? 0 : *std::max_element(ready_ms.begin(), ready_ms.end());
  std::cout << "{\"count\":" << n << ",\"rejected\":" << rejected << ",\"failed\":" << failed
            << ",\"rpcs_ms\":" << rpcs_ms << ",\"all_ready_ms\":" << total << ",\"ready\":{"
            << Percentiles(ready_ms) << "}}\n";
  return rejected + failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> a(argv + 1, argv + argc);
  if (a.size() < 3) {
    std::cerr << "usage: osgv_density_client SOCKET latency N [DRIVER_PID] | watch IMAGE N | "
                 "create IMAGE N PREFIX\n";
    return 2;
  }
  auto channel = grpc::CreateChannel("unix:" + a[0], grpc::InsecureChannelCredentials());
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
    std::cerr << "density_client: cannot connect to " << a[0] << "\n";
    return 1;
  }
  auto stub = pb::ComputeDriver::NewStub(channel);
  if (a[1] == "latency") return Latency(stub.get(), std::stoi(a[2]), a.size() > 3 ? a[3] : "");
  if (a[1] == "watch" && a.size() == 4) return WatchLatency(stub.get(), a[2], std::stoi(a[3]));
  if (a[1] == "create" && a.size() == 5) {
    return ConcurrentCreates(stub.get(), a[2], std::stoi(a[3]), a[4]);
  }
  std::cerr << "density_client: unknown command\n";
  return 2;
}
