// One WatchSandboxes stream: the initial snapshot of every sandbox, then
// live events, one write in flight at a time, driven by the subscription's
// notifications rather than by a thread. A stream opened while the driver
// still recovers holds no thread either: it begins when its opener calls
// back (ComputeDriverService::OpenWatch), or ends with the error it gets.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>

#include "compute_driver.pb.h"
#include "ryno/compute_driver.pb.h"
#include "lifecycle/sandbox_manager.h"

namespace osgv {

// Called once, on any thread: OK with the subscription to stream, or the
// status the stream ends with instead.
using WatchStarted = std::function<void(const grpc::Status&, WatchStart)>;
// Subscribes when it can, then calls `started`; it must not block.
using WatchOpener = std::function<void(WatchStarted started)>;

grpc::ServerWriteReactor<::openshell::compute::v1::WatchSandboxesEvent>* NewWatchReactor(
    const WatchOpener& open);

// The same for a Ryno gateway: the events under Ryno's names.
grpc::ServerWriteReactor<::ryno::compute::v1::WatchSandboxesEvent>* NewRynoWatchReactor(
    const WatchOpener& open);

}  // namespace osgv
