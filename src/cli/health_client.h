// A client for grpc.health.v1.Health/Check without generated code: the
// request is an empty message (or field 1 = service name) and the reply is
// field 1 = status enum, so the bytes are encoded by hand.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <string>

#include "absl/status/statusor.h"

namespace osgv {

enum class HealthStatus { kUnknown = 0, kServing = 1, kNotServing = 2, kServiceUnknown = 3 };

absl::StatusOr<HealthStatus> CheckHealth(const std::shared_ptr<grpc::Channel>& channel,
                                         const std::string& service,
                                         std::chrono::milliseconds timeout);

const char* HealthStatusName(HealthStatus s);

}  // namespace osgv
