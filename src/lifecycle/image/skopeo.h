// Registry transport: `skopeo copy docker://REF oci:LAYOUT:NAME`.
//
// skopeo (the containers/image reference implementation) already speaks the
// distribution protocol, bearer-token auth, auth.json and credential
// helpers, registries.conf mirrors and policy.json; we run it through the
// one CommandRunner and trust none of its output: the image store verifies
// every blob it copied before using it.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "capabilities/config.h"
#include "capabilities/image_reference.h"
#include "lifecycle/runsc/command_runner.h"

namespace osgv {

// What the image store needs from a registry. A fake in unit tests.
class ImagePuller {
 public:
  virtual ~ImagePuller() = default;
  // Copies the registry image `ref` (resolved to this host's platform)
  // into the OCI layout `layout_dir`, under the ref name `name`. Errors name
  // the image and the cause.
  virtual absl::Status Pull(const ImageReference& ref, const std::string& layout_dir,
                            const std::string& name) = 0;
};

struct SkopeoOptions {
  std::string path = "skopeo";
  std::string auth_file;        // --authfile; "" = skopeo's default lookup
  std::string registries_conf;  // --registries-conf
  std::string policy;           // --policy
  std::vector<std::string> insecure_registries;  // host[:port] -> --src-tls-verify=false
  std::chrono::milliseconds timeout{600000};
};

// The images.* keys of the driver's configuration.
SkopeoOptions SkopeoOptionsFromConfig(const ImagesConfig& images);

class Skopeo : public ImagePuller {
 public:
  Skopeo(CommandRunner* runner, SkopeoOptions options)
      : runner_(runner), options_(std::move(options)) {}

  absl::Status Pull(const ImageReference& ref, const std::string& layout_dir,
                    const std::string& name) override;

  // The `skopeo copy` command Pull runs (exposed for tests).
  Command CopyCommand(const ImageReference& ref, const std::string& layout_dir,
                      const std::string& name) const;

 private:
  CommandRunner* runner_;
  SkopeoOptions options_;
};

// A failed skopeo run as a status whose code and message say what went
// wrong with `image`: NOT_FOUND (unknown repository or tag),
// PERMISSION_DENIED (credentials), UNAVAILABLE (registry unreachable),
// DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED (disk full), FAILED_PRECONDITION
// (digest mismatch, unsupported media type, no image for this platform,
// skopeo missing), UNKNOWN otherwise. skopeo's own words are appended.
absl::Status SkopeoError(const std::string& image, const std::string& skopeo_path,
                         const CommandResult& result);

// "Copying blob sha256:... done|skipped: already exists" lines in skopeo's
// output: how many blobs it fetched and how many it already had.
struct SkopeoCopyStats {
  int blobs_copied = 0;
  int blobs_skipped = 0;
};
SkopeoCopyStats ParseCopyOutput(const std::string& output);

}  // namespace osgv
