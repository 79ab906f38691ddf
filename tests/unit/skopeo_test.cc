#include "lifecycle/image/skopeo.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "unit/fake_runner.h"

namespace osgv {
namespace {

using testing::FakeRunner;
using Argv = std::vector<std::string>;

ImageReference Ref(const std::string& text) { return ParseImageReference(text).value(); }

TEST_CASE("Skopeo copies into the driver's layout with the configured files", "[image][skopeo]") {
  FakeRunner runner;
  SkopeoOptions o;
  o.path = "/usr/bin/skopeo";
  o.auth_file = "/etc/osgv/auth.json";
  o.registries_conf = "/etc/osgv/registries.conf";
  o.policy = "/etc/osgv/policy.json";
  o.insecure_registries = {"localhost:5000"};
  o.timeout = std::chrono::seconds(42);
  Skopeo skopeo(&runner, o);

  REQUIRE(skopeo.Pull(Ref("localhost:5000/busybox:1"), "/s/images/blobs-layout",
                      "localhost:5000/busybox:1")
              .ok());
  REQUIRE(runner.count() == 1);
  Command c = runner.last();
  CHECK(c.argv == Argv{"/usr/bin/skopeo", "--registries-conf=/etc/osgv/registries.conf",
                       "--policy=/etc/osgv/policy.json", "copy",
                       "--authfile=/etc/osgv/auth.json", "--src-tls-verify=false",
                       "docker://localhost:5000/busybox:1",
                       "oci:/s/images/blobs-layout:localhost:5000/busybox:1"});
  CHECK(c.timeout == std::chrono::seconds(42));
}

TEST_CASE("Skopeo verifies TLS for registries not listed as insecure", "[image][skopeo]") {
  FakeRunner runner;
  Skopeo skopeo(&runner, SkopeoOptions{});
  const std::string digest =
      "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  Command c = skopeo.CopyCommand(Ref("busybox@" + digest), "/L", "n");
  CHECK(c.argv == Argv{"skopeo", "copy", "docker://docker.io/library/busybox@" + digest, "oci:/L:n"});
}

TEST_CASE("SkopeoOptionsFromConfig passes the images keys through", "[image][skopeo]") {
  ImagesConfig images;
  images.skopeo_path = "/opt/skopeo";
  images.insecure_registries = {"r:1"};
  images.pull_timeout = std::chrono::minutes(3);
  SkopeoOptions o = SkopeoOptionsFromConfig(images);
  CHECK(o.path == "/opt/skopeo");
  CHECK(o.insecure_registries == std::vector<std::string>{"r:1"});
  CHECK(o.timeout == std::chrono::minutes(3));
}

TEST_CASE("Skopeo refuses a layout path it cannot address", "[image][skopeo]") {
  FakeRunner runner;
  Skopeo skopeo(&runner, SkopeoOptions{});
  absl::Status s = skopeo.Pull(Ref("busybox"), "/a:b/layout", "n");
  CHECK(s.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(runner.count() == 0);
}

std::string Fatal(const std::string& msg) {
  return "time=\"2024-05-01T10:00:00Z\" level=fatal msg=\"" + msg + "\"\n";
}

TEST_CASE("SkopeoError names the image and classifies the cause", "[image][skopeo]") {
  struct Sample {
    std::string stderr_text;
    absl::StatusCode code;
    std::string cause;
  };
  const std::vector<Sample> samples = {
      {Fatal("initializing source docker://r:5/busybox:nope: reading manifest nope in "
             "r:5/busybox: manifest unknown: manifest unknown"),
       absl::StatusCode::kNotFound, "no such repository or tag"},
      {Fatal("initializing source docker://r:5/nope:1: reading manifest 1 in r:5/nope: "
             "name unknown: repository name not known to registry"),
       absl::StatusCode::kNotFound, "no such repository or tag"},
      {Fatal("initializing source docker://r:5/x:1: reading manifest 1 in r:5/x: "
             "unauthorized: authentication required"),
       absl::StatusCode::kPermissionDenied, "refused the credentials"},
      {Fatal("initializing source docker://r.io/x:1: pinging container registry r.io: Get "
             "\\\"https://r.io/v2/\\\": dial tcp 127.0.0.1:5: connect: connection refused"),
       absl::StatusCode::kUnavailable, "unreachable"},
      {Fatal("initializing source docker://nohost.invalid/x:1: pinging container registry "
             "nohost.invalid: Get \\\"https://nohost.invalid/v2/\\\": dial tcp: lookup "
             "nohost.invalid: no such host"),
       absl::StatusCode::kUnavailable, "unreachable"},
      {Fatal("initializing source docker://127.0.0.1:5000/x:1: pinging container registry "
             "127.0.0.1:5000: Get \\\"https://127.0.0.1:5000/v2/\\\": http: server gave HTTP "
             "response to HTTPS client"),
       absl::StatusCode::kUnavailable, "images.insecure_registries"},
      {Fatal("writing blob: happened during read: Digest did not match, expected "
             "sha256:aaaa, got sha256:bbbb"),
       absl::StatusCode::kFailedPrecondition, "does not match its digest"},
      {Fatal("copying system image from manifest list: choosing an image from manifest "
             "list docker://x:1: no image found in manifest list for architecture amd64"),
       absl::StatusCode::kFailedPrecondition, "no variant for this host's platform"},
      {Fatal("writing blob: write /s/images/blobs-layout/blobs/sha256/x: no space left on "
             "device"),
       absl::StatusCode::kResourceExhausted, "disk"},
      {Fatal("parsing manifest: unsupported manifest type application/x-foo"),
       absl::StatusCode::kFailedPrecondition, "media type"},
      {"something odd\n", absl::StatusCode::kUnknown, "pull failed"},
  };
  for (const Sample& sample : samples) {
    INFO(sample.stderr_text);
    CommandResult r = FakeRunner::Exit(1, sample.stderr_text);
    absl::Status s = SkopeoError("r:5/busybox:nope", "skopeo", r);
    CHECK(s.code() == sample.code);
    CHECK_THAT(std::string(s.message()),
               Catch::StartsWith("image 'r:5/busybox:nope': ") && Catch::Contains(sample.cause));
  }
}

TEST_CASE("SkopeoError reports timeouts and a missing skopeo", "[image][skopeo]") {
  absl::Status timed_out = SkopeoError("x", "skopeo", FakeRunner::TimedOut());
  CHECK(timed_out.code() == absl::StatusCode::kDeadlineExceeded);
  CHECK_THAT(std::string(timed_out.message()), Catch::Contains("images.pull_timeout"));

  absl::Status missing =
      SkopeoError("x", "/nope/skopeo", FakeRunner::Exit(127, "exec failed: No such file"));
  CHECK(missing.code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(missing.message()), Catch::Contains("/nope/skopeo"));
}

TEST_CASE("Skopeo Pull maps a failed run through SkopeoError", "[image][skopeo]") {
  FakeRunner runner;
  runner.Script("copy", FakeRunner::Exit(1, Fatal("reading manifest 9 in r:5/a: manifest unknown")));
  SkopeoOptions o;
  o.registries_conf = "/x.conf";  // a global flag before the subcommand
  Skopeo skopeo(&runner, o);
  absl::Status s = skopeo.Pull(Ref("r:5/a:9"), "/L", "r:5/a:9");
  CHECK(s.code() == absl::StatusCode::kNotFound);
  CHECK_THAT(std::string(s.message()), Catch::Contains("'r:5/a:9'"));
}

TEST_CASE("ParseCopyOutput counts fetched and reused blobs", "[image][skopeo]") {
  SkopeoCopyStats stats = ParseCopyOutput(
      "Getting image source signatures\n"
      "Copying blob 8a49fdb3b6a5 done  \n"
      "Copying blob 1b2c3d4e5f60 skipped: already exists  \n"
      "Copying blob 99aa00bb11cc done\n"
      "Copying config 3a6ba0f4f7 done  \n"
      "Writing manifest to image destination\n");
  CHECK(stats.blobs_copied == 2);
  CHECK(stats.blobs_skipped == 1);
}

}  // namespace
}  // namespace osgv
