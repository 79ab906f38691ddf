#include "hostile/driver_under_test.h"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <mutex>

#include "lifecycle/sandbox_status.h"

namespace osgv::testing {

// Keeps every formatted log line; Text() may be read while others log.
class CapturingSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::string Text() {
    std::lock_guard<std::mutex> lock(mutex_);
    return text_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    text_.append(formatted.data(), formatted.size());
  }
  void flush_() override {}

 private:
  std::string text_;
};

DriverUnderTest::DriverUnderTest() : tmp_("osgv-hostile") {
  // Everything the driver logs, at every level, goes to a string.
  log_sink_ = std::make_shared<CapturingSink>();
  previous_logger_ = spdlog::default_logger();
  auto logger = std::make_shared<spdlog::logger>("hostile", log_sink_);
  logger->set_level(spdlog::level::trace);
  spdlog::set_default_logger(logger);

  layout_.root = tmp_.Dir("state");
  // Outside the state dir, as an operator may configure it.
  checkpoint_dir_ = tmp_.Dir("checkpoints");
  auto opened = StateStore::Open(layout_.database());
  REQUIRE(opened.ok());
  store_ = std::move(*opened);

  RunscOptions options;
  options.path = "runsc";
  options.root = layout_.runsc_root();
  runsc_ = std::make_unique<Runsc>(&runner_, options);
  RunscFeatures features;
  features.flags = {"overlay2", "net-disconnect-ok"};
  runsc_->SetFeatures(features);
  runner_.Script("list", FakeRunner::Ok("null"));
  images_ = std::make_unique<ImageStore>(layout_.images());
  events_ = std::make_unique<EventLog>(&bus_, store_.get());

  ManagerDeps deps;
  deps.config.checkpoint_dir = checkpoint_dir_;
  deps.layout = layout_;
  deps.store = store_.get();
  deps.runsc = runsc_.get();
  deps.images = images_.get();
  deps.mounter = &mounter_;
  deps.monitors = &launcher_;
  deps.exits = &exits_;
  deps.events = &bus_;
  deps.cgroup_root = tmp_.Dir("cgroup");
  manager_ = std::make_unique<SandboxManager>(deps);
  REQUIRE(manager_->Recover().ok());

  DriverCapabilities capabilities;
  capabilities.driver_name = "gvisor";
  capabilities.implementation_version = "0.0.0-test";
  service_ = std::make_unique<ComputeDriverService>(manager_.get(), capabilities);
  service_->SetReady();
  ryno_service_ = std::make_unique<RynoComputeDriverService>(service_.get());

  // As `serve` builds it (serve_command.cc): no listening port of gRPC's
  // own, default limits; connections arrive through SocketServer.
  grpc::ServerBuilder builder;
  builder.RegisterService(service_.get());
  builder.RegisterService(ryno_service_.get());
  server_ = builder.BuildAndStart();
  REQUIRE(server_);
  SocketConfig socket;
  socket.path = tmp_.path() + "/run/driver.sock";
  auto fd = BindDriverSocket(socket);
  REQUIRE(fd.ok());
  socket_path_ = socket.path;
  socket_ = std::make_unique<SocketServer>(*fd, socket.path, std::set<uint32_t>{geteuid()});
  socket_->Start(server_.get());
}

DriverUnderTest::~DriverUnderTest() {
  socket_->Stop();
  bus_.CloseAll();
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  launcher_.Unblock();
  manager_->Shutdown();
  exits_.Stop();  // no exit callback may reach a destroyed manager
  manager_.reset();
  launcher_.KillAll();
  events_.reset();
  spdlog::set_default_logger(previous_logger_);
}

std::unique_ptr<::ryno::compute::v1::ComputeDriver::Stub> DriverUnderTest::ConnectRyno() const {
  return ::ryno::compute::v1::ComputeDriver::NewStub(
      grpc::CreateChannel("unix:" + socket_path_, grpc::InsecureChannelCredentials()));
}

std::unique_ptr<pb::ComputeDriver::Stub> DriverUnderTest::Connect() const {
  return pb::ComputeDriver::NewStub(
      grpc::CreateChannel("unix:" + socket_path_, grpc::InsecureChannelCredentials()));
}

void DriverUnderTest::CreateSettled(const std::string& id, const std::string& name) {
  SandboxRequest request;
  request.id = id;
  request.name = name;
  request.workspace = "dev";
  request.spec.tmpl.image = "registry.invalid/hostile/existing:1";
  request.spec.sandbox_token = kSecretToken;
  REQUIRE(manager_->Create(request).ok());
  // Fail() publishes this event last; after it the provisioning thread
  // touches nothing on disk.
  REQUIRE(events_->WaitFor([&](const std::vector<EventLog::Entry>& entries) {
    for (const auto& e : entries) {
      const WatchEvent& ev = e.event;
      if (ev.kind == WatchEvent::Kind::kPlatformEvent && ev.sandbox_id == id &&
          ev.event.type == "Warning" && ev.event.reason == reason::kImagePullFailed) {
        return true;
      }
    }
    return false;
  }));
}

std::string DriverUnderTest::RunscIdOf(const std::string& id) {
  auto record = store_->Get(id);
  REQUIRE(record.ok());
  REQUIRE(record->has_value());
  return (*record)->runsc_id;
}

std::string DriverUnderTest::Logs() const { return log_sink_->Text(); }

}  // namespace osgv::testing
