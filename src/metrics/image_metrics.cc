#include "metrics/image_metrics.h"

namespace osgv {

ImageMetrics::ImageMetrics(prometheus::Registry& registry)
    : pulls_(prometheus::BuildCounter()
                 .Name("osgv_image_pulls_total")
                 .Help("Registry image pulls (skopeo copy), by outcome (ok, error)")
                 .Register(registry)),
      pulls_ok_(pulls_.Add({{"outcome", "ok"}})),
      pulls_error_(pulls_.Add({{"outcome", "error"}})),
      pull_bytes_(prometheus::BuildCounter()
                      .Name("osgv_image_pull_bytes_total")
                      .Help("Compressed layer bytes of the images pulled; layers the store "
                            "already held are not fetched again, so an upper bound on the "
                            "bytes downloaded")
                      .Register(registry)
                      .Add({})),
      cache_hits_(prometheus::BuildCounter()
                      .Name("osgv_image_cache_hits_total")
                      .Help("Registry images served from the local image store without asking "
                            "the registry")
                      .Register(registry)
                      .Add({})) {}

void ImageMetrics::OnCacheHit() { cache_hits_.Increment(); }

void ImageMetrics::OnPull(bool ok, uint64_t layer_bytes) {
  (ok ? pulls_ok_ : pulls_error_).Increment();
  pull_bytes_.Increment(static_cast<double>(layer_bytes));
}

}  // namespace osgv
