#include "lifecycle/image/layer_unpack.h"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "unit/image_test_support.h"

namespace osgv {
namespace {

using namespace osgv::testing;  // NOLINT: tar-entry builders read as a DSL

// A target root plus the layers applied to it, all in one temp dir.
class LayerFixture {
 public:
  absl::Status Apply(const std::vector<TarEntry>& entries,
                     Compression compression = Compression::kNone) {
    std::string layer = tmp_.path() + "/layer" + std::to_string(count_++) + ".tar";
    WriteTar(layer, entries, compression);
    return ApplyPath(layer);
  }
  // The layer file as the image store hands it over: opened once, verified.
  absl::Status ApplyPath(const std::string& layer) {
    absl::StatusOr<BlobFile> blob = BlobFile::Open(layer, Sha256File(layer).value());
    if (!blob.ok()) return blob.status();
    return ApplyLayer(*blob, root_);
  }
  std::string Root(const std::string& rel) const { return root_ + "/" + rel; }
  // A directory beside the root that no layer may touch.
  std::string Outside() const { return outside_; }

 private:
  TempDir tmp_;
  std::string root_ = tmp_.Dir("root");
  std::string outside_ = tmp_.Dir("outside");
  int count_ = 0;
};

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

struct stat Lstat(const std::string& path) {
  struct stat st {};
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st;
}

mode_t Perms(const std::string& path) { return Lstat(path).st_mode & 07777; }

TEST_CASE("ApplyLayer extracts files, dirs, symlinks, hardlinks and fifos", "[image][layer]") {
  LayerFixture f;
  REQUIRE(f.Apply({Dir("etc/", 0751), File("etc/hosts", "127.0.0.1 localhost\n", 0640),
                   File("usr/bin/tool", "#!/bin/sh\n", 0755),  // parents not listed
                   Symlink("etc/link", "/etc/hosts"), Hardlink("etc/hosts2", "etc/hosts"),
                   Fifo("run/fifo"), CharDev("dev/null")})
              .ok());

  CHECK(ReadAll(f.Root("etc/hosts")) == "127.0.0.1 localhost\n");
  CHECK(Perms(f.Root("etc/hosts")) == 0640);
  CHECK(Perms(f.Root("etc")) == 0751);
  CHECK(Perms(f.Root("usr/bin/tool")) == 0755);
  CHECK(Lstat(f.Root("etc/hosts")).st_mtime == 1700000000);
  CHECK(Lstat(f.Root("etc")).st_mtime == 1700000000);

  // Symlinks stay symlinks with their target verbatim (resolved later,
  // inside the sandbox's root).
  CHECK(S_ISLNK(Lstat(f.Root("etc/link")).st_mode));
  CHECK(std::filesystem::read_symlink(f.Root("etc/link")) == "/etc/hosts");

  CHECK(Lstat(f.Root("etc/hosts2")).st_ino == Lstat(f.Root("etc/hosts")).st_ino);
  CHECK(S_ISFIFO(Lstat(f.Root("run/fifo")).st_mode));
  CHECK_FALSE(Exists(f.Root("dev/null")));  // devices are skipped
}

TEST_CASE("ApplyLayer: .wh.<name> deletes a lower file", "[image][layer][whiteout]") {
  LayerFixture f;
  REQUIRE(f.Apply({File("a/keep", "k"), File("a/gone", "g")}).ok());
  REQUIRE(f.Apply({File("a/.wh.gone")}).ok());
  CHECK(Exists(f.Root("a/keep")));
  CHECK_FALSE(Exists(f.Root("a/gone")));
  CHECK_FALSE(Exists(f.Root("a/.wh.gone")));
}

TEST_CASE("ApplyLayer: .wh.<dir> deletes a lower directory tree", "[image][layer][whiteout]") {
  LayerFixture f;
  REQUIRE(f.Apply({Dir("d"), File("d/x/y", "y"), File("other", "o")}).ok());
  REQUIRE(f.Apply({File(".wh.d")}).ok());
  CHECK_FALSE(Exists(f.Root("d")));
  CHECK(Exists(f.Root("other")));
}

TEST_CASE("ApplyLayer: an opaque dir drops lower content but keeps the same layer's",
          "[image][layer][whiteout]") {
  LayerFixture f;
  REQUIRE(f.Apply({File("d/old", "o"), File("d/sub/older", "o"), File("keep", "k")}).ok());
  // The marker comes after a sibling of the same layer: it must survive.
  REQUIRE(
      f.Apply({Dir("d"), File("d/new", "n"), File("d/.wh..wh..opq"), File("d/later", "l")}).ok());
  CHECK_FALSE(Exists(f.Root("d/old")));
  CHECK_FALSE(Exists(f.Root("d/sub")));
  CHECK(ReadAll(f.Root("d/new")) == "n");
  CHECK(ReadAll(f.Root("d/later")) == "l");
  CHECK_FALSE(Exists(f.Root("d/.wh..wh..opq")));
  CHECK(Exists(f.Root("keep")));
}

TEST_CASE("ApplyLayer rejects whiteouts that would name a parent", "[image][layer][whiteout]") {
  LayerFixture f;
  REQUIRE(f.Apply({File("d/keep", "k")}).ok());
  for (const char* marker : {"d/.wh.", "d/.wh..", "d/.wh..."}) {
    INFO(marker);
    CHECK(f.Apply({File(marker)}).code() == absl::StatusCode::kFailedPrecondition);
    CHECK(Exists(f.Root("d/keep")));
  }
}

TEST_CASE("ApplyLayer rejects a malformed whiteout in a first layer too", "[image][layer][whiteout]") {
  // Onto an empty target the whiteout pass is skipped; extraction checks.
  for (const char* marker : {"d/.wh.", "d/.wh..", "d/.wh..."}) {
    INFO(marker);
    LayerFixture f;
    CHECK(f.Apply({File("d/keep", "k"), File(marker)}).code() ==
          absl::StatusCode::kFailedPrecondition);
  }
}

TEST_CASE("ApplyLayer: whiteouts in a first layer hide nothing and are not written",
          "[image][layer][whiteout]") {
  LayerFixture f;
  REQUIRE(f.Apply({File("d/keep", "k"), File("d/.wh.gone"), File("d/.wh..wh..opq")}).ok());
  CHECK(ReadAll(f.Root("d/keep")) == "k");
  CHECK_FALSE(Exists(f.Root("d/.wh.gone")));
  CHECK_FALSE(Exists(f.Root("d/.wh..wh..opq")));
}

TEST_CASE("ApplyLayer never writes aufs .wh..wh.* bookkeeping", "[image][layer][whiteout]") {
  LayerFixture f;
  REQUIRE(f.Apply({Dir(".wh..wh.plnk"), File(".wh..wh.plnk/123.456", "x"), File("a", "a")}).ok());
  CHECK_FALSE(Exists(f.Root(".wh..wh.plnk")));
  CHECK(Exists(f.Root("a")));
}

TEST_CASE("ApplyLayer rejects names that escape the root", "[image][layer][security]") {
  LayerFixture f;
  for (std::string name : {"../outside/evil", "a/../../outside/evil", "/../outside/evil"}) {
    INFO(name);
    absl::Status s = f.Apply({File(name, "pwned")});
    CHECK(s.code() == absl::StatusCode::kFailedPrecondition);
    CHECK_THAT(std::string(s.message()), Catch::Contains(name));
    CHECK_FALSE(Exists(f.Outside() + "/evil"));
  }
}

TEST_CASE("ApplyLayer takes absolute names relative to the root", "[image][layer][security]") {
  LayerFixture f;
  // umoci writes the root as "/" and files as "/bin/sh".
  std::string host_path = f.Outside() + "/evil";
  REQUIRE(f.Apply({Dir("/", 0755), File("/bin/sh", "sh", 0755), File(host_path, "x"),
                   Hardlink("/bin/sh2", "/bin/sh")})
              .ok());
  CHECK(ReadAll(f.Root("bin/sh")) == "sh");
  CHECK(Lstat(f.Root("bin/sh2")).st_ino == Lstat(f.Root("bin/sh")).st_ino);
  CHECK(Exists(f.Root(host_path.substr(1))));
  CHECK_FALSE(Exists(host_path));
}

TEST_CASE("ApplyLayer never writes through a symlinked parent", "[image][layer][security]") {
  LayerFixture f;
  std::string outside = f.Outside();

  SECTION("symlink from the same layer") {
    absl::Status s = f.Apply({Symlink("esc", outside), File("esc/pwned", "x")});
    CHECK(s.code() == absl::StatusCode::kFailedPrecondition);
    CHECK_THAT(std::string(s.message()), Catch::Contains("esc/pwned"));
  }
  SECTION("relative symlink from a lower layer") {
    REQUIRE(f.Apply({Symlink("esc", "../outside")}).ok());
    CHECK_FALSE(f.Apply({File("esc/pwned", "x")}).ok());
  }
  SECTION("hardlink whose target path runs through a symlink") {
    testing::WriteAll(outside + "/secret", "s");
    REQUIRE(f.Apply({Symlink("l", outside)}).ok());
    CHECK_FALSE(f.Apply({Hardlink("h", "l/secret")}).ok());
    CHECK_FALSE(Exists(f.Root("h")));
  }
  CHECK_FALSE(Exists(outside + "/pwned"));
}

TEST_CASE("ApplyLayer rejects hardlinks to targets outside the root", "[image][layer][security]") {
  LayerFixture f;
  testing::WriteAll(f.Outside() + "/secret", "s");
  CHECK_FALSE(f.Apply({Hardlink("h", "../outside/secret")}).ok());
  // Absolute targets resolve inside the root too, where there is no such file.
  CHECK_FALSE(f.Apply({Hardlink("h", f.Outside() + "/secret")}).ok());
  CHECK_FALSE(Exists(f.Root("h")));
}

TEST_CASE("ApplyLayer: whiteouts behind a symlink delete nothing outside",
          "[image][layer][security]") {
  LayerFixture f;
  testing::WriteAll(f.Outside() + "/victim", "v");
  REQUIRE(f.Apply({Symlink("l", f.Outside())}).ok());
  REQUIRE(f.Apply({File("l/.wh.victim"), File("l/.wh..wh..opq")}).ok());
  CHECK(Exists(f.Outside() + "/victim"));
}

TEST_CASE("ApplyLayer: an upper dir replaces a lower symlink without touching its target",
          "[image][layer][security]") {
  LayerFixture f;
  REQUIRE(::chmod(f.Outside().c_str(), 0700) == 0);
  REQUIRE(f.Apply({Symlink("d", f.Outside())}).ok());
  REQUIRE(f.Apply({Dir("d", 0755), File("d/f", "f")}).ok());
  CHECK(S_ISDIR(Lstat(f.Root("d")).st_mode));
  CHECK(Exists(f.Root("d/f")));
  CHECK(Perms(f.Outside()) == 0700);
  CHECK_FALSE(Exists(f.Outside() + "/f"));
}

TEST_CASE("ApplyLayer: an upper dir entry sets the mode of the lower dir", "[image][layer]") {
  LayerFixture f;
  REQUIRE(f.Apply({Dir("d", 0700), File("d/f", "f")}).ok());
  REQUIRE(f.Apply({Dir("d", 0755)}).ok());
  CHECK(Perms(f.Root("d")) == 0755);
  CHECK(Exists(f.Root("d/f")));  // merged, not replaced
}

TEST_CASE("ApplyLayer: upper non-directories replace what was there", "[image][layer]") {
  LayerFixture f;
  REQUIRE(f.Apply({File("x/y", "y"), File("a", "old"), Hardlink("b", "a")}).ok());
  REQUIRE(f.Apply({File("x", "now a file"), File("a", "new")}).ok());
  CHECK(ReadAll(f.Root("x")) == "now a file");
  CHECK(ReadAll(f.Root("a")) == "new");
  // Replaced, not rewritten in place: the lower hardlink keeps its content.
  CHECK(ReadAll(f.Root("b")) == "old");
}

TEST_CASE("ApplyLayer reads gzip and zstd layers", "[image][layer]") {
  for (Compression c : {Compression::kGzip, Compression::kZstd}) {
    LayerFixture f;
    REQUIRE(f.Apply({File("hello", "world")}, c).ok());
    CHECK(ReadAll(f.Root("hello")) == "world");
  }
}

TEST_CASE("ApplyLayer rejects a file that is not a tarball", "[image][layer]") {
  TempDir tmp;
  std::string bogus = tmp.path() + "/bogus";
  WriteAll(bogus, std::string(4096, 'x'));
  absl::StatusOr<BlobFile> blob = BlobFile::Open(bogus, Sha256File(bogus).value());
  REQUIRE(blob.ok());
  absl::Status s = ApplyLayer(*blob, tmp.Dir("root"));
  CHECK_FALSE(s.ok());
  CHECK_THAT(std::string(s.message()), Catch::Contains(bogus));
}

TEST_CASE("ApplyLayer reads the descriptor it was given, not what the path names later",
          "[image][layer][security]") {
  TempDir tmp;
  std::string path = tmp.path() + "/layer.tar";
  WriteTar(path, {File("who", "verified")});
  absl::StatusOr<BlobFile> blob = BlobFile::Open(path, Sha256File(path).value());
  REQUIRE(blob.ok());
  REQUIRE(blob->Verify().ok());
  // Swapped after the hash, the way an attacker racing the unpack would.
  std::string swap = tmp.path() + "/swap.tar";
  WriteTar(swap, {File("who", "swapped!"), File("extra", "x")});
  REQUIRE(std::rename(swap.c_str(), path.c_str()) == 0);

  std::string root = tmp.Dir("root");
  REQUIRE(ApplyLayer(*blob, root).ok());
  CHECK(ReadAll(root + "/who") == "verified");
  CHECK_FALSE(Exists(root + "/extra"));
}

TEST_CASE("ApplyLayer refuses a layer rewritten in place after it was verified",
          "[image][layer][security]") {
  TempDir tmp;
  std::string path = tmp.path() + "/layer.tar";
  WriteTar(path, {File("who", "verified")});
  std::string other = tmp.path() + "/other.tar";
  WriteTar(other, {File("who", "tampered")});  // same length, so the same size
  std::string bytes = ReadAll(other);
  REQUIRE(bytes.size() == ReadAll(path).size());
  absl::StatusOr<BlobFile> blob = BlobFile::Open(path, Sha256File(path).value());
  REQUIRE(blob.ok());
  REQUIRE(blob->Verify().ok());
  {
    std::ofstream same_inode(path, std::ios::binary | std::ios::in | std::ios::out);
    same_inode.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }

  absl::Status s = ApplyLayer(*blob, tmp.Dir("root"));
  CHECK(s.code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(s.message()), Catch::Contains("does not match its digest"));
}

TEST_CASE("BlobFile refuses a symlink and a non-regular file", "[image][layer][security]") {
  TempDir tmp;
  std::string real = tmp.path() + "/real.tar";
  WriteTar(real, {File("a", "a")});
  std::string link = tmp.path() + "/link.tar";
  REQUIRE(::symlink(real.c_str(), link.c_str()) == 0);
  absl::StatusOr<BlobFile> linked = BlobFile::Open(link, Sha256File(real).value());
  CHECK(linked.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(linked.status().message()), Catch::Contains("is a symlink"));
  absl::StatusOr<BlobFile> dir = BlobFile::Open(tmp.Dir("d"), Sha256File(real).value());
  CHECK(dir.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(dir.status().message()), Catch::Contains("not a regular file"));
}

TEST_CASE("ApplyLayer keeps setuid only when it can own the file", "[image][layer]") {
  LayerFixture f;
  REQUIRE(f.Apply({File("bin/su", "x", 04755)}).ok());
  mode_t expected = ::geteuid() == 0 ? 04755 : 0755;
  CHECK(Perms(f.Root("bin/su")) == expected);
}

}  // namespace
}  // namespace osgv
