#include "lifecycle/bundle/reserved_paths.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "capabilities/quantity.h"

namespace osgv {
namespace {

// True when one of the two (normalized, absolute) paths is a component-wise
// prefix of the other, including equality. "/" overlaps everything.
bool Overlaps(absl::string_view a, absl::string_view b) {
  auto is_prefix = [](absl::string_view shorter, absl::string_view longer) {
    if (shorter == "/") return true;
    if (!absl::StartsWith(longer, shorter)) return false;
    return longer.size() == shorter.size() || longer[shorter.size()] == '/';
  };
  return a.size() <= b.size() ? is_prefix(a, b) : is_prefix(b, a);
}

absl::Status Invalid(const std::string& field, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
}

}  // namespace

const std::vector<std::string>& ReservedSandboxPaths() {
  static const std::vector<std::string> paths = {
      "/opt/openshell",        // supervisor binary (and the VM guest's files)
      "/etc/openshell",        // token, client TLS, policy
      "/etc/openshell-tls",    // Kubernetes TLS and proxy CA files
      "/run/openshell",        // SSH socket
      "/run/openshell-sidecar",
      "/run/netns",            // the supervisor's `ip netns` mounts
      "/var/run/netns",        // iproute2's spelling of the same
  };
  return paths;
}

absl::Status CheckNotReserved(const std::string& field, const std::string& path) {
  if (path.empty()) return Invalid(field, "must not be empty");
  if (path.front() != '/') {
    return Invalid(field, absl::StrCat("must be an absolute path (got ", QuoteForMessage(path), ")"));
  }
  absl::string_view normalized = path;
  if (normalized.size() > 1 && normalized.back() == '/') normalized.remove_suffix(1);
  if (normalized.size() > 1) {
    for (absl::string_view part : absl::StrSplit(normalized.substr(1), '/')) {
      if (part.empty() || part == "." || part == "..") {
        return Invalid(field, absl::StrCat("must be normalized, without empty, '.' or '..' "
                                           "components (got ",
                                           QuoteForMessage(path), ")"));
      }
    }
  }
  std::vector<std::string> candidates = {std::string(normalized)};
  if (normalized == "/var/run" || absl::StartsWith(normalized, "/var/run/")) {
    candidates.push_back(absl::StrCat("/run", normalized.substr(8)));
  }
  for (const std::string& candidate : candidates) {
    for (const std::string& reserved : ReservedSandboxPaths()) {
      if (Overlaps(candidate, reserved)) {
        return Invalid(field, absl::StrCat(QuoteForMessage(path),
                                           " overlaps the reserved OpenShell path '", reserved,
                                           "'"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace osgv
