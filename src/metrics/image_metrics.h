// Image pulls and cache hits, as the image store reports them through its
// ImageObserver seam (lifecycle/image/image_observer.h).
#pragma once

#include "lifecycle/image/image_observer.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/registry.h"

namespace osgv {

// osgv_image_pulls_total{outcome="ok|error"}, osgv_image_pull_bytes_total,
// osgv_image_cache_hits_total. No image name: it would be an unbounded label.
class ImageMetrics : public ImageObserver {
 public:
  explicit ImageMetrics(prometheus::Registry& registry);

  void OnCacheHit() override;
  void OnPull(bool ok, uint64_t layer_bytes) override;

 private:
  prometheus::Family<prometheus::Counter>& pulls_;  // before its children
  prometheus::Counter& pulls_ok_;
  prometheus::Counter& pulls_error_;
  prometheus::Counter& pull_bytes_;
  prometheus::Counter& cache_hits_;
};

}  // namespace osgv
