#include "lifecycle/image/skopeo.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include <spdlog/spdlog.h>

namespace osgv {
namespace {

// skopeo logs its fatal error as logrus text: time="..." level=fatal
// msg="...". The msg is the useful part; without it, the last line.
std::string SkopeoMessage(const std::string& stderr_text) {
  std::string last;
  for (absl::string_view line : absl::StrSplit(stderr_text, '\n', absl::SkipWhitespace())) {
    last = std::string(absl::StripAsciiWhitespace(line));
    size_t at = line.find("msg=\"");
    if (at == absl::string_view::npos) continue;
    std::string msg;
    for (size_t i = at + 5; i < line.size() && line[i] != '"'; ++i) {
      if (line[i] == '\\' && i + 1 < line.size()) ++i;
      msg += line[i];
    }
    last = msg;
  }
  return last;
}

struct Cause {
  std::vector<absl::string_view> needles;  // any of these, case-insensitive
  absl::StatusCode code;
  absl::string_view what;
};

// Ordered: the first match wins, so specific causes come before the
// generic network ones that often appear in the same message.
const std::vector<Cause>& Causes() {
  static const auto* causes = new std::vector<Cause>{
      {{"no space left on device", "disk quota exceeded"},
       absl::StatusCode::kResourceExhausted,
       "the disk holding the image store is full"},
      {{"manifest unknown", "name unknown", "not found: manifest", "repository name not known",
        "does not exist or you do not have permission"},
       absl::StatusCode::kNotFound,
       "the registry has no such repository or tag"},
      {{"unauthorized", "authentication required", "access to the resource is denied", "incorrect username or password",
        "invalid username/password", "authenticating creds"},
       absl::StatusCode::kPermissionDenied,
       "the registry refused the credentials (see images.auth_file)"},
      {{"digest did not match", "digest mismatch", "does not match digest",
        "computed digest", "size mismatch"},
       absl::StatusCode::kFailedPrecondition,
       "a blob from the registry does not match its digest"},
      {{"unsupported mime type", "unsupported manifest", "unsupported media type",
        "unknown media type", "manifest type", "is not supported"},
       absl::StatusCode::kFailedPrecondition,
       "the image uses a media type this driver cannot run"},
      {{"choosing an image from manifest list", "no image found in manifest list",
        "no image found in image index"},
       absl::StatusCode::kFailedPrecondition,
       "the image has no variant for this host's platform"},
      {{"server gave http response to https client", "x509:", "certificate",
        "tls: "},
       absl::StatusCode::kUnavailable,
       "TLS with the registry failed (a plain-HTTP or self-signed registry must be listed "
       "in images.insecure_registries)"},
      {{"connection refused", "no such host", "i/o timeout", "network is unreachable",
        "connection reset", "dial tcp", "timeout", "temporary failure in name resolution",
        "pinging container registry", ": eof"},
       absl::StatusCode::kUnavailable,
       "the registry is unreachable"},
      {{"policy"},
       absl::StatusCode::kFailedPrecondition,
       "the signature policy rejected the image (see images.policy)"},
  };
  return *causes;
}

}  // namespace

SkopeoOptions SkopeoOptionsFromConfig(const ImagesConfig& images) {
  SkopeoOptions o;
  o.path = images.skopeo_path;
  o.auth_file = images.auth_file;
  o.registries_conf = images.registries_conf;
  o.policy = images.policy;
  o.insecure_registries = images.insecure_registries;
  o.timeout = images.pull_timeout;
  return o;
}

Command Skopeo::CopyCommand(const ImageReference& ref, const std::string& layout_dir,
                            const std::string& name) const {
  Command c;
  c.argv = {options_.path};
  // Global options, before the subcommand.
  if (!options_.registries_conf.empty()) {
    c.argv.push_back("--registries-conf=" + options_.registries_conf);
  }
  if (!options_.policy.empty()) c.argv.push_back("--policy=" + options_.policy);
  c.argv.push_back("copy");
  if (!options_.auth_file.empty()) c.argv.push_back("--authfile=" + options_.auth_file);
  const auto& insecure = options_.insecure_registries;
  if (std::find(insecure.begin(), insecure.end(), ref.registry) != insecure.end()) {
    c.argv.push_back("--src-tls-verify=false");
  }
  // Without --all, skopeo resolves a multi-platform index to this host's
  // os/architecture and copies that one manifest.
  c.argv.push_back("docker://" + ref.Canonical());
  c.argv.push_back(absl::StrCat("oci:", layout_dir, ":", name));
  c.timeout = options_.timeout;
  return c;
}

absl::Status Skopeo::Pull(const ImageReference& ref, const std::string& layout_dir,
                          const std::string& name) {
  if (!ref.is_registry()) {
    return absl::InvalidArgumentError(
        absl::StrCat("image '", ref.Canonical(), "' is not a registry reference"));
  }
  // containers/image splits oci:PATH:NAME at the first ':'.
  if (absl::StrContains(layout_dir, ':')) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the image store path ", layout_dir, " contains ':', which skopeo cannot address"));
  }
  absl::StatusOr<CommandResult> result = runner_->Run(CopyCommand(ref, layout_dir, name));
  if (!result.ok()) {
    return absl::Status(result.status().code(),
                        absl::StrCat("image '", ref.Canonical(),
                                     "': cannot run skopeo: ", result.status().message()));
  }
  if (!result->ok()) return SkopeoError(ref.Canonical(), options_.path, *result);
  SkopeoCopyStats stats = ParseCopyOutput(result->stdout_text + result->stderr_text);
  spdlog::info("image {}: pulled ({} blobs fetched, {} already present)", ref.Canonical(),
               stats.blobs_copied, stats.blobs_skipped);
  return absl::OkStatus();
}

absl::Status SkopeoError(const std::string& image, const std::string& skopeo_path,
                         const CommandResult& result) {
  if (result.timed_out) {
    return absl::DeadlineExceededError(absl::StrCat(
        "image '", image, "': pull did not finish in time (images.pull_timeout); ",
        result.Describe()));
  }
  if (result.exit_code == 127 && absl::StrContains(result.stderr_text, "exec")) {
    return absl::FailedPreconditionError(absl::StrCat(
        "image '", image, "': cannot run skopeo ('", skopeo_path,
        "'): install the skopeo package or set images.skopeo_path"));
  }
  std::string said = SkopeoMessage(result.stderr_text);
  std::string lower = absl::AsciiStrToLower(said);
  for (const Cause& cause : Causes()) {
    for (absl::string_view needle : cause.needles) {
      if (absl::StrContains(lower, needle)) {
        return absl::Status(cause.code,
                            absl::StrCat("image '", image, "': ", cause.what, " (skopeo: ", said, ")"));
      }
    }
  }
  return absl::UnknownError(absl::StrCat("image '", image, "': pull failed (skopeo ",
                                         result.Describe(), ")"));
}

SkopeoCopyStats ParseCopyOutput(const std::string& output) {
  SkopeoCopyStats stats;
  for (absl::string_view line : absl::StrSplit(output, '\n')) {
    if (!absl::StartsWith(absl::StripLeadingAsciiWhitespace(line), "Copying blob ")) continue;
    if (absl::StrContains(line, "skipped")) {
      stats.blobs_skipped++;
    } else {
      stats.blobs_copied++;
    }
  }
  return stats;
}

}  // namespace osgv
