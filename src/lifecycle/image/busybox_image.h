// The image the driver can build by itself, with no registry: busybox-static
// as a one-layer OCI layout, made with umoci through the CommandRunner.
//
// `run` and `probe` default to it, and the live tests use the same recipe.
// The layout is cached under `cache_dir`, keyed by the busybox binary's hash
// and the recipe version, so only the first call pays for umoci (~1 s).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "lifecycle/runsc/command_runner.h"

namespace osgv {

inline constexpr char kDefaultImageCacheDir[] = "/var/cache/openshell-driver-gvisor";
inline constexpr char kBusyboxBinary[] = "/bin/busybox";

// What the image holds, for probes and tests that check it from the host.
inline constexpr char kBusyboxImageMarker[] = "from-the-busybox-image\n";
inline constexpr char kBusyboxImagePasswd[] =
    "root:x:0:0:root:/root:/bin/sh\n"
    "osgvtester:x:4242:4242:image-only user:/workdir:/bin/sh\n";

// Returns the `oci:/abs/layout:v1` reference of the cached layout, building
// it first when absent. Safe against concurrent callers in other processes:
// each builds in a private directory and renames it into place.
absl::StatusOr<std::string> EnsureBusyboxImage(CommandRunner* runner, const std::string& cache_dir,
                                               const std::string& busybox = kBusyboxBinary);

}  // namespace osgv
