#include "temp_dir.h"
#include "lifecycle/fs_util.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace osgv {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  REQUIRE(out.good());
}

int ModeOf(const std::string& path) {
  struct stat st;
  REQUIRE(lstat(path.c_str(), &st) == 0);
  return static_cast<int>(st.st_mode & 07777);
}

// An umask that would strip bits, restored afterwards: modes must not depend
// on the caller's umask.
struct ScopedUmask {
  mode_t old;
  explicit ScopedUmask(mode_t m) : old(umask(m)) {}
  ~ScopedUmask() { umask(old); }
};

// ---- WriteFileAtomic --------------------------------------------------------

TEST_CASE("WriteFileAtomic writes content and mode, leaving no .tmp", "[fs_util]") {
  TempDir dir;
  const std::string path = dir.path() + "/config.json";
  ScopedUmask mask(027);
  REQUIRE(WriteFileAtomic(path, "{\"a\":1}\n", 0600).ok());
  CHECK(Slurp(path) == "{\"a\":1}\n");
  CHECK(ModeOf(path) == 0600);
  CHECK_FALSE(fs::exists(path + ".tmp"));

  REQUIRE(WriteFileAtomic(dir.path() + "/public", "x", 0644).ok());
  CHECK(ModeOf(dir.path() + "/public") == 0644);
}

TEST_CASE("WriteFileAtomic replaces an existing file, content and mode", "[fs_util]") {
  TempDir dir;
  const std::string path = dir.path() + "/f";
  REQUIRE(WriteFileAtomic(path, "a much longer first version\n", 0644).ok());
  REQUIRE(WriteFileAtomic(path, "short", 0600).ok());
  CHECK(Slurp(path) == "short");
  CHECK(ModeOf(path) == 0600);
  CHECK_FALSE(fs::exists(path + ".tmp"));
}

TEST_CASE("WriteFileAtomic handles empty and binary content", "[fs_util]") {
  TempDir dir;
  const std::string path = dir.path() + "/bin";
  std::string binary("a\0b\xff\n", 5);
  REQUIRE(WriteFileAtomic(path, binary, 0600).ok());
  CHECK(Slurp(path) == binary);
  REQUIRE(WriteFileAtomic(path, "", 0600).ok());
  CHECK(fs::file_size(path) == 0);

  std::string big(3 << 20, 'z');
  REQUIRE(WriteFileAtomic(path, big, 0600).ok());
  CHECK(Slurp(path) == big);
}

TEST_CASE("WriteFileAtomic overwrites a stale .tmp from a crash", "[fs_util]") {
  TempDir dir;
  const std::string path = dir.path() + "/state";
  WriteText(path + ".tmp", "stale garbage that is longer than the new content");
  fs::permissions(path + ".tmp", fs::perms::owner_read | fs::perms::owner_write |
                                     fs::perms::others_read);
  REQUIRE(WriteFileAtomic(path, "new", 0600).ok());
  CHECK(Slurp(path) == "new");
  CHECK(ModeOf(path) == 0600);
  CHECK_FALSE(fs::exists(path + ".tmp"));
}

TEST_CASE("WriteFileAtomic into a missing directory fails and leaves nothing", "[fs_util]") {
  TempDir dir;
  const std::string path = dir.path() + "/missing/file";
  auto st = WriteFileAtomic(path, "x", 0600);
  CHECK_FALSE(st.ok());
  CHECK_FALSE(fs::exists(path));
  CHECK_FALSE(fs::exists(path + ".tmp"));
}

// Runs the scope in `dir` as the working directory, restoring the old one.
struct ScopedChdir {
  fs::path old = fs::current_path();
  explicit ScopedChdir(const std::string& dir) { fs::current_path(dir); }
  ~ScopedChdir() {
    std::error_code ec;
    fs::current_path(old, ec);
  }
};

TEST_CASE("WriteFileAtomic with a bare file name writes in the current directory",
          "[fs_util]") {
  TempDir dir;
  ScopedChdir cd(dir.path());
  // The parent of "state.json" is "" — the directory to fsync is ".".
  auto st = WriteFileAtomic("state.json", "relative", 0600);
  INFO(st);
  CHECK(st.ok());
  CHECK(Slurp(dir.path() + "/state.json") == "relative");
  CHECK_FALSE(fs::exists(dir.path() + "/state.json.tmp"));
}

// ---- ReadFile ---------------------------------------------------------------

TEST_CASE("ReadFile returns the whole file", "[fs_util]") {
  TempDir dir;
  const std::string path = dir.path() + "/r";
  std::string content("line1\nline2\0tail", 16);
  WriteText(path, content);
  auto r = ReadFile(path);
  REQUIRE(r.ok());
  CHECK(*r == content);

  WriteText(path, "");
  auto e = ReadFile(path);
  REQUIRE(e.ok());
  CHECK(e->empty());
}

TEST_CASE("ReadFile of a missing file is NOT_FOUND naming it", "[fs_util]") {
  TempDir dir;
  const std::string path = dir.path() + "/nope";
  auto r = ReadFile(path);
  REQUIRE(!r.ok());
  CHECK(r.status().code() == absl::StatusCode::kNotFound);
  CHECK_THAT(std::string(r.status().message()), Catch::Contains(path));

  auto deeper = ReadFile(dir.path() + "/no/such/dir/file");
  CHECK(deeper.status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("ReadFile of a directory is an error, not an empty file", "[fs_util]") {
  TempDir dir;
  auto r = ReadFile(dir.path());
  REQUIRE(!r.ok());
  CHECK(r.status().code() != absl::StatusCode::kNotFound);
  CHECK_THAT(std::string(r.status().message()), Catch::Contains(dir.path()));
}

TEST_CASE("ReadFile round-trips WriteFileAtomic", "[fs_util]") {
  TempDir dir;
  const std::string path = dir.path() + "/rt";
  REQUIRE(WriteFileAtomic(path, "round trip", 0600).ok());
  auto r = ReadFile(path);
  REQUIRE(r.ok());
  CHECK(*r == "round trip");
}

// ---- MakeDirs ---------------------------------------------------------------

TEST_CASE("MakeDirs creates every missing level with the mode", "[fs_util]") {
  TempDir dir;
  ScopedUmask mask(077);
  const std::string deep = dir.path() + "/a/b/c";
  REQUIRE(MakeDirs(deep, 0755).ok());
  CHECK(fs::is_directory(deep));
  CHECK(ModeOf(dir.path() + "/a") == 0755);
  CHECK(ModeOf(dir.path() + "/a/b") == 0755);
  CHECK(ModeOf(deep) == 0755);
}

TEST_CASE("MakeDirs leaves existing directories and their modes alone", "[fs_util]") {
  TempDir dir;
  const std::string a = dir.path() + "/a";
  REQUIRE(mkdir(a.c_str(), 0700) == 0);
  REQUIRE(chmod(a.c_str(), 0700) == 0);
  REQUIRE(MakeDirs(a + "/b", 0750).ok());
  CHECK(ModeOf(a) == 0700);
  CHECK(ModeOf(a + "/b") == 0750);
  // Again: nothing to do, still fine.
  REQUIRE(MakeDirs(a + "/b", 0711).ok());
  CHECK(ModeOf(a + "/b") == 0750);
  // The temp dir itself is untouched.
  CHECK(ModeOf(dir.path()) == 0700);
}

TEST_CASE("MakeDirs with a trailing slash", "[fs_util]") {
  TempDir dir;
  REQUIRE(MakeDirs(dir.path() + "/x/y/", 0700).ok());
  CHECK(fs::is_directory(dir.path() + "/x/y"));
  CHECK(ModeOf(dir.path() + "/x/y") == 0700);
}

TEST_CASE("MakeDirs through a regular file fails", "[fs_util]") {
  TempDir dir;
  WriteText(dir.path() + "/file", "x");
  CHECK_FALSE(MakeDirs(dir.path() + "/file/sub", 0700).ok());
}

// ---- RemoveTree -------------------------------------------------------------

TEST_CASE("RemoveTree removes a nested tree", "[fs_util]") {
  TempDir dir;
  const std::string root = dir.path() + "/tree";
  fs::create_directories(root + "/a/b/c");
  fs::create_directories(root + "/d");
  WriteText(root + "/top", "1");
  WriteText(root + "/a/b/c/deep", "2");
  WriteText(root + "/d/.hidden", "3");
  REQUIRE(mkfifo((root + "/a/fifo").c_str(), 0600) == 0);
  REQUIRE(RemoveTree(root).ok());
  CHECK_FALSE(fs::exists(fs::symlink_status(root)));
  CHECK(fs::exists(dir.path()));
}

TEST_CASE("RemoveTree of a missing path is OK", "[fs_util]") {
  TempDir dir;
  CHECK(RemoveTree(dir.path() + "/never-existed").ok());
}

TEST_CASE("RemoveTree of a single file", "[fs_util]") {
  TempDir dir;
  WriteText(dir.path() + "/f", "x");
  REQUIRE(RemoveTree(dir.path() + "/f").ok());
  CHECK_FALSE(fs::exists(dir.path() + "/f"));
}

TEST_CASE("RemoveTree never follows symlinks", "[fs_util]") {
  TempDir dir;
  const std::string outside = dir.path() + "/outside";
  fs::create_directories(outside + "/sub");
  WriteText(outside + "/precious", "keep me");
  WriteText(outside + "/sub/also", "keep me too");

  const std::string root = dir.path() + "/tree";
  fs::create_directories(root + "/inner");
  fs::create_directory_symlink(outside, root + "/link-to-dir");
  fs::create_directory_symlink(outside, root + "/inner/another-link");
  fs::create_symlink(outside + "/precious", root + "/link-to-file");
  fs::create_symlink(dir.path() + "/dangling-target", root + "/dangling");

  REQUIRE(RemoveTree(root).ok());
  CHECK_FALSE(fs::exists(fs::symlink_status(root)));
  // Everything the links pointed at is intact.
  CHECK(Slurp(outside + "/precious") == "keep me");
  CHECK(Slurp(outside + "/sub/also") == "keep me too");
  CHECK(fs::is_directory(outside + "/sub"));
}

TEST_CASE("RemoveTree on a symlink to a directory removes only the link", "[fs_util]") {
  TempDir dir;
  const std::string outside = dir.path() + "/outside";
  fs::create_directories(outside);
  WriteText(outside + "/precious", "keep me");
  const std::string link = dir.path() + "/link";
  fs::create_directory_symlink(outside, link);

  REQUIRE(RemoveTree(link).ok());
  CHECK_FALSE(fs::exists(fs::symlink_status(link)));
  CHECK(Slurp(outside + "/precious") == "keep me");
}

}  // namespace
}  // namespace osgv
