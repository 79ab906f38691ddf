// ParseImageReference (declared in image_store.h): the containers-image
// "oci:" transport syntax that skopeo and umoci write, oci:/abs/path[:tag].
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "lifecycle/image/image_store.h"

namespace osgv {
namespace {

constexpr char kTransport[] = "oci:";

absl::Status Invalid(const std::string& ref, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("template.image: '", ref, "': ", why));
}

}  // namespace

absl::StatusOr<ImageReference> ParseImageReference(const std::string& ref) {
  if (ref.rfind(kTransport, 0) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("template.image: unsupported image reference '", ref,
                     "': this driver version runs OCI layouts given as oci:/abs/path[:tag]"));
  }
  std::string rest = ref.substr(sizeof(kTransport) - 1);
  ImageReference out;
  // The tag follows the last ':' only when no '/' comes after it, so
  // directories with colons in their names still work without a tag.
  size_t colon = rest.rfind(':');
  size_t slash = rest.rfind('/');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    out.tag = rest.substr(colon + 1);
    rest.resize(colon);
    if (out.tag.empty()) return Invalid(ref, "empty tag after ':'");
  }
  if (rest.empty() || rest.front() != '/') {
    return Invalid(ref, "the layout path must be absolute (oci:/abs/path[:tag])");
  }
  std::string normal = std::filesystem::path(rest).lexically_normal().string();
  if (normal.size() > 1 && normal.back() == '/') normal.pop_back();
  out.layout_dir = normal;
  return out;
}

}  // namespace osgv
