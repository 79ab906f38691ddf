// What the image store reports to whoever counts pulls (the metrics in
// src/metrics), without the store knowing who that is: lifecycle code
// depends on this interface, never on Prometheus.
#pragma once

#include <cstdint>

namespace osgv {

class ImageObserver {
 public:
  virtual ~ImageObserver() = default;
  // A registry image was served from the local blob store without asking
  // the registry (present under if-not-present, or a pinned digest whose
  // rootfs is cached).
  virtual void OnCacheHit() = 0;
  // One `skopeo copy` ended. `layer_bytes`: the compressed sizes of the
  // pulled image's layers (blobs the store already had are not fetched
  // again, so an upper bound on what crossed the network); 0 on failure.
  virtual void OnPull(bool ok, uint64_t layer_bytes) = 0;
};

}  // namespace osgv
