// One WatchSandboxes stream: the initial snapshot of every sandbox, then
// live events, one write in flight at a time, driven by the subscription's
// notifications rather than by a thread.
#pragma once

#include <grpcpp/grpcpp.h>

#include "compute_driver.pb.h"
#include "ryno/compute_driver.pb.h"
#include "lifecycle/sandbox_manager.h"

namespace osgv {

grpc::ServerWriteReactor<::openshell::compute::v1::WatchSandboxesEvent>* NewWatchReactor(
    WatchStart start);
// A stream that ends at once with `status`.
grpc::ServerWriteReactor<::openshell::compute::v1::WatchSandboxesEvent>* FailedWatch(
    const grpc::Status& status);

// The same for a Ryno gateway: the events under Ryno's names.
grpc::ServerWriteReactor<::ryno::compute::v1::WatchSandboxesEvent>* NewRynoWatchReactor(
    WatchStart start);
grpc::ServerWriteReactor<::ryno::compute::v1::WatchSandboxesEvent>* FailedRynoWatch(
    const grpc::Status& status);

}  // namespace osgv
