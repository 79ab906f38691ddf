// What the standard grpc.health.v1 service says of the driver: SERVING
// once startup recovery is done, until shutdown begins, and never again
// once the lifecycle latched a background error (a state commit failed:
// SandboxManager::BackgroundError). Whichever of these happens in whatever
// order, the latest view wins and is published at once.
#pragma once

#include <grpcpp/health_check_service_interface.h>

#include <mutex>
#include <string>

#include "absl/status/status.h"

namespace osgv {

class DriverHealth {
 public:
  // `service` (nullptr = none) gets the status for "" and for `service_name`.
  DriverHealth(grpc::HealthCheckServiceInterface* service, std::string service_name);

  void SetReady(bool ready);
  // Latched: later calls and SetReady(true) leave it NOT_SERVING.
  void SetBackgroundError(const absl::Status& error);
  bool serving() const;

 private:
  void PublishLocked();

  grpc::HealthCheckServiceInterface* service_;
  const std::string service_name_;
  mutable std::mutex mu_;
  bool ready_ = false;
  absl::Status error_;
};

}  // namespace osgv
