#include "driver/driver_health.h"

namespace osgv {

DriverHealth::DriverHealth(grpc::HealthCheckServiceInterface* service, std::string service_name)
    : service_(service), service_name_(std::move(service_name)) {
  std::lock_guard<std::mutex> lock(mu_);
  PublishLocked();
}

void DriverHealth::SetReady(bool ready) {
  std::lock_guard<std::mutex> lock(mu_);
  ready_ = ready;
  PublishLocked();
}

void DriverHealth::SetBackgroundError(const absl::Status& error) {
  std::lock_guard<std::mutex> lock(mu_);
  if (error.ok() || !error_.ok()) return;
  error_ = error;
  PublishLocked();
}

bool DriverHealth::serving() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ready_ && error_.ok();
}

// Under mu_, so two changes racing from different threads publish in the
// order they were made.
void DriverHealth::PublishLocked() {
  if (service_ == nullptr) return;
  const bool serving = ready_ && error_.ok();
  service_->SetServingStatus(serving);
  service_->SetServingStatus(service_name_, serving);
}

}  // namespace osgv
