// The reference grammar of github.com/distribution/reference (what docker,
// podman and skopeo accept), restricted to sha256 digests because that is
// the only algorithm the image store verifies; and the containers-image
// "oci:" transport syntax that skopeo and umoci write.
#include "capabilities/image_reference.h"

#include <filesystem>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "capabilities/name_rules.h"
#include "capabilities/quantity.h"

namespace osgv {
namespace {

constexpr char kOciTransport[] = "oci:";
constexpr char kDockerHub[] = "docker.io";
constexpr size_t kMaxNameLength = 255;
constexpr size_t kMaxTagLength = 128;

// The reference is quoted escaped and bounded (QuoteForMessage): it comes
// from the request and may be 1 MiB of anything.
absl::Status Invalid(const std::string& ref, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid image reference ", QuoteForMessage(ref), ": ", why));
}

// [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*
bool IsPathComponent(absl::string_view s) {
  size_t i = 0;
  auto alnum_run = [&] {
    size_t start = i;
    while (i < s.size() && IsLowerAlnum(s[i])) ++i;
    return i > start;
  };
  if (!alnum_run()) return false;
  while (i < s.size()) {
    if (s[i] == '.') {
      ++i;
    } else if (s[i] == '_') {
      ++i;
      if (i < s.size() && s[i] == '_') ++i;
    } else if (s[i] == '-') {
      while (i < s.size() && s[i] == '-') ++i;
    } else {
      return false;
    }
    if (!alnum_run()) return false;
  }
  return true;
}

// host[:port], host = DNS labels separated by '.'; IPv6 literals are not
// accepted (skopeo's registries.conf can alias one to a name).
bool IsDomain(absl::string_view s) {
  absl::string_view host = s;
  if (size_t colon = s.find(':'); colon != absl::string_view::npos) {
    absl::string_view port = s.substr(colon + 1);
    if (port.empty() || port.size() > 5) return false;
    for (char c : port) {
      if (!absl::ascii_isdigit(c)) return false;
    }
    host = s.substr(0, colon);
  }
  if (host.empty()) return false;
  for (absl::string_view label : absl::StrSplit(host, '.')) {
    if (label.empty() || label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!absl::ascii_isalnum(c) && c != '-') return false;
    }
  }
  return true;
}

// [\w][\w.-]{0,127}
bool IsTag(absl::string_view s) {
  if (s.empty() || s.size() > kMaxTagLength || s.front() == '.' || s.front() == '-') return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(c) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

bool IsSha256(absl::string_view s) {
  if (!absl::ConsumePrefix(&s, "sha256:") || s.size() != 64) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(c) && !(c >= 'a' && c <= 'f')) return false;
  }
  return true;
}

// A first component names a registry if it looks like a host (has '.' or
// ':', or is localhost); docker also counts an uppercase one, which could
// not be a repository.
bool LooksLikeRegistry(absl::string_view first) {
  return absl::StrContains(first, '.') || absl::StrContains(first, ':') || first == "localhost" ||
         absl::AsciiStrToLower(first) != first;
}

absl::StatusOr<ImageReference> ParseOciLayout(const std::string& ref) {
  std::string rest = ref.substr(sizeof(kOciTransport) - 1);
  ImageReference out;
  out.transport = ImageReference::Transport::kOciLayout;
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
  // lexically_normal keeps a leading "//" (a root name elsewhere), and a
  // leading "///" as it is: on Linux both are "/".
  std::string slashes_collapsed;
  for (char c : rest) {
    if (c != '/' || slashes_collapsed.empty() || slashes_collapsed.back() != '/') {
      slashes_collapsed.push_back(c);
    }
  }
  std::string normal = std::filesystem::path(slashes_collapsed).lexically_normal().string();
  if (normal.size() > 1 && normal.back() == '/') normal.pop_back();
  out.layout_dir = normal;
  return out;
}

absl::StatusOr<ImageReference> ParseRegistry(const std::string& ref) {
  ImageReference out;
  out.transport = ImageReference::Transport::kRegistry;
  std::string name = ref;
  if (size_t at = name.find('@'); at != std::string::npos) {
    out.digest = name.substr(at + 1);
    name.resize(at);
    if (!IsSha256(out.digest)) {
      return Invalid(ref, "the digest after '@' must be sha256:<64 lowercase hex digits>");
    }
  }
  if (size_t colon = name.rfind(':');
      colon != std::string::npos && name.find('/', colon) == std::string::npos) {
    out.tag = name.substr(colon + 1);
    name.resize(colon);
    if (!IsTag(out.tag)) {
      return Invalid(ref, "a tag is 1-128 letters, digits, '_', '.' or '-', not starting with "
                          "'.' or '-'");
    }
  }
  if (name.empty()) return Invalid(ref, "no repository name");
  std::vector<absl::string_view> parts = absl::StrSplit(name, '/');
  if (parts.size() > 1 && LooksLikeRegistry(parts.front())) {
    if (!IsDomain(parts.front())) {
      return Invalid(ref, absl::StrCat(QuoteForMessage(parts.front()),
                                       " is not a registry host[:port]"));
    }
    out.registry = std::string(parts.front());
    parts.erase(parts.begin());
  } else {
    out.registry = kDockerHub;
  }
  if (out.registry == "index.docker.io") out.registry = kDockerHub;
  for (absl::string_view part : parts) {
    if (!IsPathComponent(part)) {
      return Invalid(ref, absl::StrCat("repository component ", QuoteForMessage(part),
                                       " must be lowercase letters and digits, separated by "
                                       "'.', '_', '__' or '-'"));
    }
  }
  out.repository = absl::StrJoin(parts, "/");
  if (out.registry == kDockerHub && parts.size() == 1) {
    out.repository = absl::StrCat("library/", out.repository);
  }
  if (out.registry.size() + 1 + out.repository.size() > kMaxNameLength) {
    return Invalid(ref, absl::StrCat("the name is longer than ", kMaxNameLength, " characters"));
  }
  if (out.tag.empty() && out.digest.empty()) out.tag = "latest";
  return out;
}

}  // namespace

std::string ImageReference::Canonical() const {
  if (!is_registry()) {
    if (!tag.empty()) return absl::StrCat(kOciTransport, layout_dir, ":", tag);
    // "oci:/dir/a:b" would read back as /dir/a with tag b; the trailing
    // slash keeps a colon in the last component part of the directory.
    const bool colon_in_last = layout_dir.rfind(':') != std::string::npos &&
                               layout_dir.rfind(':') > layout_dir.rfind('/');
    return absl::StrCat(kOciTransport, layout_dir, colon_in_last ? "/" : "");
  }
  std::string name = absl::StrCat(registry, "/", repository);
  return digest.empty() ? absl::StrCat(name, ":", tag) : absl::StrCat(name, "@", digest);
}

bool PathIsWithin(const std::string& path, const std::string& dir) {
  auto normal = [](const std::string& p) {
    std::string n = std::filesystem::path(p).lexically_normal().string();
    if (n.size() > 1 && n.back() == '/') n.pop_back();
    return n;
  };
  const std::string p = normal(path);
  const std::string d = normal(dir);
  if (p.empty() || d.empty() || p.front() != '/' || d.front() != '/') return false;
  if (d == "/") return true;
  return p == d || (absl::StartsWith(p, d) && p[d.size()] == '/');
}

absl::Status CheckOciLayoutDir(const std::string& layout_dir, const OciLayoutPolicy& policy) {
  for (const std::string& dir : policy.forbidden) {
    if (PathIsWithin(layout_dir, dir)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "OCI layout ", layout_dir,
          " is inside the driver's own state (state_dir or checkpoint_dir); images are never "
          "read from there, whatever images.oci_roots allows"));
    }
  }
  for (const std::string& root : policy.roots) {
    if (PathIsWithin(layout_dir, root)) return absl::OkStatus();
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "OCI layout ", layout_dir, " is not under any directory in images.oci_roots",
      policy.roots.empty() ? " (none configured)" : "",
      "; the operator allows it by adding a directory that holds it to images.oci_roots in the "
      "driver's config"));
}

absl::StatusOr<ImageReference> ParseImageReference(const std::string& ref) {
  if (absl::StartsWith(ref, kOciTransport)) return ParseOciLayout(ref);
  if (ref.empty()) return Invalid(ref, "empty");
  if (absl::StrContains(ref, "://")) {
    return Invalid(ref, "give a registry reference (registry/name:tag) or oci:/abs/path[:tag], "
                        "without a transport or URL scheme");
  }
  return ParseRegistry(ref);
}

}  // namespace osgv
