#include "capabilities/image_reference.h"

#include <catch2/catch.hpp>
#include <string>

#include "capabilities/quantity.h"

namespace osgv {
namespace {

struct Good {
  const char* ref;
  const char* registry;
  const char* repository;
  const char* tag;
  const char* digest;
  const char* canonical;
};

constexpr char kHex[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const std::string kDigest = std::string("sha256:") + kHex;

TEST_CASE("ParseImageReference accepts registry references and applies the docker.io rule",
          "[image][reference]") {
  const std::string d = kDigest;
  const Good table[] = {
      {"busybox", "docker.io", "library/busybox", "latest", "", "docker.io/library/busybox:latest"},
      {"busybox:1.36", "docker.io", "library/busybox", "1.36", "", "docker.io/library/busybox:1.36"},
      {"user/x", "docker.io", "user/x", "latest", "", "docker.io/user/x:latest"},
      {"docker.io/busybox", "docker.io", "library/busybox", "latest", "",
       "docker.io/library/busybox:latest"},
      {"index.docker.io/user/x:v1", "docker.io", "user/x", "v1", "", "docker.io/user/x:v1"},
      {"ghcr.io/nvidia/openshell-community/sandboxes/base:latest", "ghcr.io",
       "nvidia/openshell-community/sandboxes/base", "latest", "",
       "ghcr.io/nvidia/openshell-community/sandboxes/base:latest"},
      {"localhost/app", "localhost", "app", "latest", "", "localhost/app:latest"},
      {"localhost:5000/busybox:1", "localhost:5000", "busybox", "1", "",
       "localhost:5000/busybox:1"},
      {"127.0.0.1:38211/a/b_c__d-e.f:T_1.x-y", "127.0.0.1:38211", "a/b_c__d-e.f", "T_1.x-y", "",
       "127.0.0.1:38211/a/b_c__d-e.f:T_1.x-y"},
      {"Registry/app", "Registry", "app", "latest", "", "Registry/app:latest"},
  };
  for (const Good& g : table) {
    INFO(g.ref);
    absl::StatusOr<ImageReference> r = ParseImageReference(g.ref);
    REQUIRE(r.ok());
    CHECK(r->is_registry());
    CHECK(r->registry == g.registry);
    CHECK(r->repository == g.repository);
    CHECK(r->tag == g.tag);
    CHECK(r->digest == g.digest);
    CHECK(r->Canonical() == g.canonical);
  }
}

TEST_CASE("ParseImageReference keeps digests and prefers them over tags", "[image][reference]") {
  absl::StatusOr<ImageReference> by_digest = ParseImageReference("r.io/app@" + kDigest);
  REQUIRE(by_digest.ok());
  CHECK(by_digest->tag.empty());
  CHECK(by_digest->digest == kDigest);
  CHECK(by_digest->Canonical() == "r.io/app@" + kDigest);

  absl::StatusOr<ImageReference> both = ParseImageReference("busybox:1@" + kDigest);
  REQUIRE(both.ok());
  CHECK(both->tag == "1");
  CHECK(both->Canonical() == "docker.io/library/busybox@" + kDigest);

  absl::StatusOr<ImageReference> port = ParseImageReference("localhost:5000/app@" + kDigest);
  REQUIRE(port.ok());
  CHECK(port->registry == "localhost:5000");
  CHECK(port->tag.empty());
}

TEST_CASE("ParseImageReference splits oci:/path[:tag]", "[image][reference]") {
  auto ok = [](const std::string& ref) { return ParseImageReference(ref).value(); };
  CHECK_FALSE(ok("oci:/images/app").is_registry());
  CHECK(ok("oci:/images/app").layout_dir == "/images/app");
  CHECK(ok("oci:/images/app").tag.empty());
  CHECK(ok("oci:/images/app:v1.2").layout_dir == "/images/app");
  CHECK(ok("oci:/images/app:v1.2").tag == "v1.2");
  // A colon before the last '/' belongs to the path.
  CHECK(ok("oci:/images/a:b/app").layout_dir == "/images/a:b/app");
  // A colon in the last component without a tag: the canonical form keeps
  // the trailing slash, so it reads back as the same directory (fuzzing).
  CHECK(ok("oci:/images/a:b/").layout_dir == "/images/a:b");
  CHECK(ok("oci:/images/a:b/").Canonical() == "oci:/images/a:b/");
  CHECK(ok(ok("oci:/images/a:b/").Canonical()).tag.empty());
  CHECK(ok("oci:///images//app").layout_dir == "/images/app");
  CHECK(ok("oci:///").Canonical() == "oci:/");
  CHECK(ok("oci:/images/a:b/app").tag.empty());
  CHECK(ok("oci:/images/a:b/app:latest").tag == "latest");
  CHECK(ok("oci:/images//app/:latest").layout_dir == "/images/app");
  CHECK(ok("oci:/images//app/:latest").Canonical() == "oci:/images/app:latest");
}

TEST_CASE("ParseImageReference rejects malformed references naming them", "[image][reference]") {
  const std::string bad[] = {
      "",
      "Busybox",                      // uppercase repository on Docker Hub
      "busybox:",                     // empty tag
      "busybox:-x",                   // tag starts with '-'
      "busybox:" + std::string(129, 'a'),
      "busybox@sha256:abc",           // short digest
      "busybox@md5:" + std::string(kHex).substr(0, 32),
      "busybox@sha256:" + std::string(64, 'A'),
      "r.io/App/x",                   // uppercase path component
      "r.io//x",                      // empty component
      "r.io/x/",                      // trailing slash
      "r.io/-x",                      // component starts with a separator
      "r.io/x..y",                    // doubled '.'
      "r.io/x___y",                   // three underscores
      "-bad.io/x",                    // registry label starts with '-'
      "r.io:port/x",                  // non-numeric port
      "r.io:123456/x",                // port too long
      "docker://busybox",             // a transport we do not take
      "https://r.io/x",
      "oci:relative/path:v1",
      "oci:/images/app:",
      "r.io/" + std::string(260, 'a'),
  };
  for (const std::string& ref : bad) {
    INFO(ref);
    absl::Status s = ParseImageReference(ref).status();
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    // Quoted escaped and cut after 64 bytes, whatever its length.
    CHECK_THAT(std::string(s.message()),
               Catch::StartsWith("invalid image reference " + QuoteForMessage(ref) + ": "));
    CHECK(s.message().size() < 250);
  }
}

}  // namespace
}  // namespace osgv
