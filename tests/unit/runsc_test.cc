#include "lifecycle/runsc/runsc.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "lifecycle/runsc/direct_io.h"
#include "unit/fake_runner.h"
#include "unit/temp_dir.h"

namespace osgv {
namespace {

using testing::FakeRunner;
using Argv = std::vector<std::string>;

RunscOptions Options() {
  RunscOptions o;
  o.path = "/usr/local/bin/runsc";
  o.root = "/var/lib/osgv/runsc";
  o.platform = "systrap";
  o.timeout = std::chrono::milliseconds(1234);
  return o;
}

// Writes `size` bytes (a multiple of 4096) to a new file with O_DIRECT, so
// none of it is in the page cache; false where the file system refuses.
bool WriteDirect(const std::string& path, size_t size) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_DIRECT | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  void* buf = aligned_alloc(4096, size);
  memset(buf, 'd', size);
  bool ok = write(fd, buf, size) == static_cast<ssize_t>(size);
  free(buf);
  close(fd);
  return ok;
}

// Features with these global flags and no subcommand flags.
RunscFeatures GlobalFlags(std::set<std::string> flags) {
  RunscFeatures f;
  f.version = "v";
  f.flags = std::move(flags);
  return f;
}

bool Contains(const Argv& argv, const std::string& item) {
  return std::find(argv.begin(), argv.end(), item) != argv.end();
}

// argv with the global flags stripped off the front.
Argv AfterGlobals(const Runsc& runsc, const Argv& argv) {
  Argv globals = runsc.GlobalArgs();
  REQUIRE(argv.size() >= globals.size());
  REQUIRE(Argv(argv.begin(), argv.begin() + static_cast<long>(globals.size())) == globals);
  return Argv(argv.begin() + static_cast<long>(globals.size()), argv.end());
}

constexpr char kVersionOut[] = "runsc version 0.0~20240729.0\nspec: 1.0.2-dev\n";
// `runsc help checkpoint` of 0.0~20240729 (abridged).
constexpr char kCheckpointHelpOut[] =
    "checkpoint [flags] <container id> - save current state of container.\n"
    "  -compression value\n"
    "    \tcompress checkpoint image on disk. Values: none|flate-best-speed.\n"
    "  -direct\n"
    "    \tuse O_DIRECT for writing checkpoint pages file\n"
    "  -image-path string\n"
    "    \tdirectory path to saved container image\n";
constexpr char kFlagsOut[] =
    "  -debug\n"
    "    \tenable debug logging.\n"
    "  -net-disconnect-ok\n"
    "    \tindicates whether the link endpoint capability CapabilityDisconnectOk should be set.\n"
    "  -overlay2 value\n"
    "    \tspecifies how to overlay the rootfs. (default root:self)\n"
    "  -platform string\n"
    "    \tspecifies which platform to use: ptrace (default), kvm, systrap. (default \"systrap\")\n"
    "  --root=string\n"
    "    \troot directory for storage of container state.\n";

// ---- GlobalArgs -------------------------------------------------------------

TEST_CASE("GlobalArgs: program, root, platform and no network", "[runsc]") {
  FakeRunner fake;
  Runsc runsc(&fake, Options());
  Argv g = runsc.GlobalArgs();
  REQUIRE(!g.empty());
  CHECK(g[0] == "/usr/local/bin/runsc");
  CHECK(Contains(g, "--root=/var/lib/osgv/runsc"));
  CHECK(Contains(g, "--platform=systrap"));
  CHECK(Contains(g, "--network=none"));
  // Not detected: not passed.
  CHECK_FALSE(Contains(g, "--overlay2=none"));
  CHECK_FALSE(Contains(g, "--net-disconnect-ok"));
  CHECK_FALSE(Contains(g, "--debug"));
  // Every global argument after the program is a flag.
  for (size_t i = 1; i < g.size(); ++i) CHECK(g[i].rfind("--", 0) == 0);
}

TEST_CASE("GlobalArgs: optional flags only when the features have them", "[runsc]") {
  FakeRunner fake;
  Runsc runsc(&fake, Options());
  SECTION("overlay2 only") {
    runsc.SetFeatures(GlobalFlags({"overlay2"}));
    Argv g = runsc.GlobalArgs();
    CHECK(Contains(g, "--overlay2=none"));
    CHECK_FALSE(Contains(g, "--net-disconnect-ok"));
  }
  SECTION("net-disconnect-ok only") {
    runsc.SetFeatures(GlobalFlags({"net-disconnect-ok"}));
    Argv g = runsc.GlobalArgs();
    CHECK_FALSE(Contains(g, "--overlay2=none"));
    CHECK(Contains(g, "--net-disconnect-ok"));
  }
  SECTION("both") {
    runsc.SetFeatures(GlobalFlags({"overlay2", "net-disconnect-ok", "platform"}));
    Argv g = runsc.GlobalArgs();
    CHECK(Contains(g, "--overlay2=none"));
    CHECK(Contains(g, "--net-disconnect-ok"));
    CHECK(std::count(g.begin(), g.end(), "--network=none") == 1);
  }
}

TEST_CASE("GlobalArgs: platform and debug log come from the options", "[runsc]") {
  FakeRunner fake;
  RunscOptions o = Options();
  o.platform = "kvm";
  o.debug_log_dir = "/var/log/osgv";
  Runsc runsc(&fake, o);
  Argv g = runsc.GlobalArgs();
  CHECK(Contains(g, "--platform=kvm"));
  CHECK_FALSE(Contains(g, "--platform=systrap"));
  CHECK(Contains(g, "--debug"));
  CHECK(Contains(g, "--debug-log=/var/log/osgv/"));
}

// ---- Detect -----------------------------------------------------------------

TEST_CASE("Detect parses the version and the flag table", "[runsc][detect]") {
  FakeRunner fake;
  fake.Script("--version", FakeRunner::Ok(kVersionOut));
  fake.Script("flags", FakeRunner::Ok(kFlagsOut));
  Runsc runsc(&fake, Options());
  auto f = runsc.Detect();
  REQUIRE(f.ok());
  CHECK(f->version == "0.0~20240729.0");
  CHECK(f->Has("net-disconnect-ok"));
  CHECK(f->Has("overlay2"));
  CHECK(f->Has("platform"));
  CHECK(f->Has("debug"));
  CHECK(f->Has("root"));
  CHECK_FALSE(f->Has("enable"));
  CHECK_FALSE(f->Has("specifies"));

  // The probes are plain `runsc --version`, `runsc flags` and `runsc help`
  // of the two subcommands with optional flags, without the global flags,
  // bounded by the configured timeout.
  auto cmds = fake.commands();
  REQUIRE(cmds.size() == 4);
  CHECK(cmds[0].argv == Argv{"/usr/local/bin/runsc", "--version"});
  CHECK(cmds[1].argv == Argv{"/usr/local/bin/runsc", "flags"});
  CHECK(cmds[2].argv == Argv{"/usr/local/bin/runsc", "help", "checkpoint"});
  CHECK(cmds[3].argv == Argv{"/usr/local/bin/runsc", "help", "restore"});
  for (const auto& c : cmds) CHECK(c.timeout == std::chrono::milliseconds(1234));

  // Detected features now shape every call.
  CHECK(runsc.features().version == "0.0~20240729.0");
  Argv g = runsc.GlobalArgs();
  CHECK(Contains(g, "--overlay2=none"));
  CHECK(Contains(g, "--net-disconnect-ok"));
}

TEST_CASE("Detect reads the checkpoint and restore flags", "[runsc][detect]") {
  FakeRunner fake;
  fake.Script("--version", FakeRunner::Ok(kVersionOut));
  fake.Script("flags", FakeRunner::Ok(kFlagsOut));
  SECTION("from `runsc help`") {
    fake.Enqueue("help", FakeRunner::Ok(kCheckpointHelpOut));
    fake.Enqueue("help", FakeRunner::Ok("restore [flags] <container id>\n  -detach\n  -direct\n"));
    Runsc runsc(&fake, Options());
    auto f = runsc.Detect();
    REQUIRE(f.ok());
    CHECK(f->Has("checkpoint.compression"));
    CHECK(f->Has("checkpoint.direct"));
    CHECK(f->Has("checkpoint.image-path"));
    CHECK(f->Has("restore.detach"));
    CHECK(f->Has("restore.direct"));
    CHECK_FALSE(f->Has("restore.compression"));
    // Subcommand flags are not global flags, and global ones stay bare.
    CHECK_FALSE(f->Has("direct"));
    CHECK(f->Has("net-disconnect-ok"));
  }
  SECTION("a help that fails leaves them empty and Detect OK") {
    fake.Enqueue("help", FakeRunner::Exit(2, "unknown command\n", "  -direct\n"));
    fake.Enqueue("help", absl::InternalError("fork: out of memory"));
    Runsc runsc(&fake, Options());
    auto f = runsc.Detect();
    REQUIRE(f.ok());
    CHECK_FALSE(f->Has("checkpoint.direct"));
    CHECK_FALSE(f->Has("restore.direct"));
    CHECK(f->Has("net-disconnect-ok"));
  }
}

TEST_CASE("Detect reads a flag table printed on stderr", "[runsc][detect]") {
  FakeRunner fake;
  fake.Script("--version", FakeRunner::Ok(kVersionOut));
  fake.Script("flags", FakeRunner::Ok("", kFlagsOut));
  Runsc runsc(&fake, Options());
  auto f = runsc.Detect();
  REQUIRE(f.ok());
  CHECK(f->Has("net-disconnect-ok"));
  CHECK(f->Has("overlay2"));
}

TEST_CASE("Detect on an old runsc passes no optional flags", "[runsc][detect]") {
  FakeRunner fake;
  fake.Script("--version", FakeRunner::Ok("runsc version release-20230101.0\nspec: 1.0.2\n"));
  fake.Script("flags", FakeRunner::Ok("  -platform string\n    \tplatform.\n"));
  Runsc runsc(&fake, Options());
  auto f = runsc.Detect();
  REQUIRE(f.ok());
  CHECK(f->version == "release-20230101.0");
  Argv g = runsc.GlobalArgs();
  CHECK_FALSE(Contains(g, "--overlay2=none"));
  CHECK_FALSE(Contains(g, "--net-disconnect-ok"));
}

TEST_CASE("Detect: a runsc that does not run is FAILED_PRECONDITION", "[runsc][detect]") {
  FakeRunner fake;
  fake.Script("--version", FakeRunner::Exit(127, "exec failed\n"));
  Runsc runsc(&fake, Options());
  auto f = runsc.Detect();
  REQUIRE(!f.ok());
  CHECK(f.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(f.status().message()), Catch::Contains("/usr/local/bin/runsc"));
  CHECK_THAT(std::string(f.status().message()), Catch::Contains("exec failed"));
}

TEST_CASE("Detect passes a runner error through", "[runsc][detect]") {
  FakeRunner fake;
  fake.Script("--version", absl::InternalError("fork: out of memory"));
  Runsc runsc(&fake, Options());
  auto f = runsc.Detect();
  REQUIRE(!f.ok());
  CHECK(f.status().code() == absl::StatusCode::kInternal);
  CHECK_THAT(std::string(f.status().message()), Catch::Contains("fork"));
}

// ---- ParseRunscFlags --------------------------------------------------------

TEST_CASE("ParseRunscFlags", "[runsc][flags]") {
  auto flags = ParseRunscFlags(kFlagsOut);
  CHECK(flags == std::set<std::string>{"debug", "net-disconnect-ok", "overlay2", "platform",
                                       "root"});
  CHECK(ParseRunscFlags("").empty());
  CHECK(ParseRunscFlags("Usage: runsc flags\nno flags here\n").empty());
  CHECK(ParseRunscFlags("\t-tabbed bool\n") == std::set<std::string>{"tabbed"});
  CHECK(ParseRunscFlags("-x=1\n--y\n") == std::set<std::string>{"x", "y"});
  // A bare dash names nothing.
  CHECK(ParseRunscFlags("  -\n  --\n").empty());
}

// ---- State / List -----------------------------------------------------------

TEST_CASE("State parses runsc state", "[runsc][state]") {
  FakeRunner fake;
  fake.Script("state", FakeRunner::Ok(R"({"ociVersion":"1.0.2","id":"osgv-abc",)"
                                      R"("status":"running","pid":4242,)"
                                      R"("bundle":"/var/lib/osgv/bundles/osgv-abc"})"));
  Runsc runsc(&fake, Options());
  auto s = runsc.State("osgv-abc");
  REQUIRE(s.ok());
  REQUIRE(s->has_value());
  CHECK((*s)->id == "osgv-abc");
  CHECK((*s)->status == "running");
  CHECK((*s)->pid == 4242);
  CHECK((*s)->bundle == "/var/lib/osgv/bundles/osgv-abc");
  CHECK(AfterGlobals(runsc, fake.last().argv) == Argv{"state", "osgv-abc"});
}

TEST_CASE("State of a missing container is nullopt", "[runsc][state]") {
  FakeRunner fake;
  Runsc runsc(&fake, Options());
  SECTION("does not exist") {
    fake.Script("state", FakeRunner::Exit(
                             1, "loading container: file does not exist\n"));
  }
  SECTION("no such file") {
    fake.Script("state", FakeRunner::Exit(
                             1, "loading container: open /x/state.json: no such file or directory\n"));
  }
  auto s = runsc.State("osgv-gone");
  REQUIRE(s.ok());
  CHECK_FALSE(s->has_value());
}

TEST_CASE("State: other failures are errors carrying runsc's stderr", "[runsc][state]") {
  FakeRunner fake;
  fake.Script("state", FakeRunner::Exit(2, "permission denied: /var/lib/osgv/runsc\n"));
  Runsc runsc(&fake, Options());
  auto s = runsc.State("osgv-abc");
  REQUIRE(!s.ok());
  CHECK_THAT(std::string(s.status().message()), Catch::Contains("permission denied"));
  CHECK_THAT(std::string(s.status().message()), Catch::Contains("osgv-abc"));
}

TEST_CASE("State: unparsable output is an error, not a crash", "[runsc][state]") {
  FakeRunner fake;
  fake.Script("state", FakeRunner::Ok("not json"));
  Runsc runsc(&fake, Options());
  auto s = runsc.State("osgv-abc");
  REQUIRE(!s.ok());
  CHECK_THAT(std::string(s.status().message()), Catch::Contains("not json"));
}

TEST_CASE("State: a timeout is an error, never 'gone'", "[runsc][state]") {
  FakeRunner fake;
  fake.Script("state", FakeRunner::TimedOut());
  Runsc runsc(&fake, Options());
  auto s = runsc.State("osgv-abc");
  CHECK(!s.ok());
}

TEST_CASE("List parses null and arrays", "[runsc][list]") {
  FakeRunner fake;
  Runsc runsc(&fake, Options());
  SECTION("null: an empty root") {
    fake.Script("list", FakeRunner::Ok("null\n"));
    auto l = runsc.List();
    REQUIRE(l.ok());
    CHECK(l->empty());
  }
  SECTION("empty array") {
    fake.Script("list", FakeRunner::Ok("[]"));
    auto l = runsc.List();
    REQUIRE(l.ok());
    CHECK(l->empty());
  }
  SECTION("two containers") {
    fake.Script("list", FakeRunner::Ok(
                            R"([{"id":"a","status":"running","pid":10,"bundle":"/b/a"},)"
                            R"( {"id":"b","status":"stopped","pid":0,"bundle":"/b/b"}])"));
    auto l = runsc.List();
    REQUIRE(l.ok());
    REQUIRE(l->size() == 2);
    CHECK((*l)[0].id == "a");
    CHECK((*l)[0].status == "running");
    CHECK((*l)[0].pid == 10);
    CHECK((*l)[0].bundle == "/b/a");
    CHECK((*l)[1].id == "b");
    CHECK((*l)[1].status == "stopped");
    CHECK((*l)[1].pid == 0);
  }
  CHECK(AfterGlobals(runsc, fake.last().argv) == Argv{"list", "--format=json"});
}

TEST_CASE("List errors", "[runsc][list]") {
  FakeRunner fake;
  Runsc runsc(&fake, Options());
  SECTION("non-zero exit carries stderr") {
    fake.Script("list", FakeRunner::Exit(1, "cannot read root dir\n"));
    auto l = runsc.List();
    REQUIRE(!l.ok());
    CHECK_THAT(std::string(l.status().message()), Catch::Contains("cannot read root dir"));
  }
  SECTION("garbage") {
    fake.Script("list", FakeRunner::Ok("{{{"));
    CHECK(!runsc.List().ok());
  }
  SECTION("an object, not an array") {
    fake.Script("list", FakeRunner::Ok(R"({"id":"a"})"));
    CHECK(!runsc.List().ok());
  }
}

TEST_CASE("ParseContainerState tolerates missing fields", "[runsc][state]") {
  auto s = ParseContainerState(R"({"id":"x"})");
  REQUIRE(s.ok());
  CHECK(s->id == "x");
  CHECK(s->status.empty());
  CHECK(s->pid == -1);
  CHECK(!ParseContainerState("[]").ok());
  CHECK(!ParseContainerState("").ok());
}

// ---- Start / Kill / Delete / Create -----------------------------------------

TEST_CASE("commands carry the global flags, then the subcommand", "[runsc][argv]") {
  FakeRunner fake;
  Runsc runsc(&fake, Options());
  runsc.SetFeatures(GlobalFlags({"overlay2", "net-disconnect-ok"}));

  REQUIRE(runsc.Start("osgv-1").ok());
  CHECK(AfterGlobals(runsc, fake.last().argv) == Argv{"start", "osgv-1"});
  CHECK(fake.last().timeout == std::chrono::milliseconds(1234));

  REQUIRE(runsc.Kill("osgv-1", 15, false).ok());
  CHECK(AfterGlobals(runsc, fake.last().argv) == Argv{"kill", "osgv-1", "15"});
  REQUIRE(runsc.Kill("osgv-1", 9, true).ok());
  CHECK(AfterGlobals(runsc, fake.last().argv) == Argv{"kill", "--all", "osgv-1", "9"});

  REQUIRE(runsc.Delete("osgv-1", false).ok());
  CHECK(AfterGlobals(runsc, fake.last().argv) == Argv{"delete", "osgv-1"});
  REQUIRE(runsc.Delete("osgv-1", true).ok());
  CHECK(AfterGlobals(runsc, fake.last().argv) == Argv{"delete", "--force", "osgv-1"});

  // Every one of them had the detected global flags.
  for (const auto& c : fake.commands()) {
    CHECK(Contains(c.argv, "--overlay2=none"));
    CHECK(Contains(c.argv, "--net-disconnect-ok"));
    CHECK(Contains(c.argv, "--network=none"));
    CHECK(c.stdin_fd == -1);
    CHECK(c.stdout_fd == -1);
    CHECK(c.stderr_fd == -1);
  }
}

TEST_CASE("Create hands the container its stdio fds", "[runsc][argv]") {
  FakeRunner fake;
  Runsc runsc(&fake, Options());
  REQUIRE(runsc.Create("osgv-1", "/var/lib/osgv/bundles/osgv-1", "/run/pid", 5, 6, 7).ok());
  Command c = fake.last();
  CHECK(AfterGlobals(runsc, c.argv) == Argv{"create", "--bundle", "/var/lib/osgv/bundles/osgv-1",
                                            "--pid-file=/run/pid", "osgv-1"});
  CHECK(c.stdin_fd == 5);
  CHECK(c.stdout_fd == 6);
  CHECK(c.stderr_fd == 7);
  CHECK(c.timeout == std::chrono::milliseconds(1234));
}

TEST_CASE("Delete of a missing container is NOT_FOUND", "[runsc][errors]") {
  FakeRunner fake;
  fake.Script("delete", FakeRunner::Exit(1, "loading container: file does not exist\n"));
  Runsc runsc(&fake, Options());
  for (bool force : {false, true}) {
    auto st = runsc.Delete("osgv-gone", force);
    CHECK(st.code() == absl::StatusCode::kNotFound);
    CHECK_THAT(std::string(st.message()), Catch::Contains("osgv-gone"));
  }
}

TEST_CASE("a non-zero exit is an error carrying runsc's stderr", "[runsc][errors]") {
  FakeRunner fake;
  const std::string err = "starting container: cgroup: permission denied\n";
  fake.SetDefault(FakeRunner::Exit(128, err));
  Runsc runsc(&fake, Options());

  auto check = [](const absl::Status& st, const std::string& what) {
    INFO(what << ": " << st);
    CHECK_FALSE(st.ok());
    CHECK(st.code() != absl::StatusCode::kNotFound);
    CHECK(st.code() != absl::StatusCode::kDeadlineExceeded);
    CHECK_THAT(std::string(st.message()), Catch::Contains("cgroup: permission denied"));
    CHECK_THAT(std::string(st.message()), Catch::Contains("osgv-1"));
    CHECK_THAT(std::string(st.message()), Catch::Contains(what));
  };
  check(runsc.Start("osgv-1"), "start");
  check(runsc.Kill("osgv-1", 9, false), "kill");
  check(runsc.Delete("osgv-1", true), "delete");
  check(runsc.Create("osgv-1", "/b", "/p", 0, 1, 2), "create");
}

TEST_CASE("Checkpoint and Restore build the argv runsc expects", "[runsc][argv]") {
  FakeRunner fake;
  Runsc runsc(&fake, Options());
  REQUIRE(runsc.Checkpoint("osgv-1", "/ck/tmp-1", "none", std::chrono::seconds(9)).ok());
  Command c = fake.last();
  CHECK(AfterGlobals(runsc, c.argv) ==
        Argv{"checkpoint", "--image-path=/ck/tmp-1", "--compression=none", "osgv-1"});
  CHECK(c.timeout == std::chrono::seconds(9));
  REQUIRE(runsc.Checkpoint("osgv-1", "/ck/tmp-2", "flate", std::chrono::seconds(9)).ok());
  CHECK(AfterGlobals(runsc, fake.last().argv) ==
        Argv{"checkpoint", "--image-path=/ck/tmp-2", "osgv-1"});  // flate is runsc's default
  REQUIRE(runsc.Restore("osgv-1", "/b", "/ck/image", "/b/pid", 3, 4, 5).ok());
  c = fake.last();
  CHECK(AfterGlobals(runsc, c.argv) == Argv{"restore", "--detach", "--bundle", "/b",
                                            "--image-path=/ck/image", "--pid-file=/b/pid",
                                            "osgv-1"});
  CHECK(c.stdout_fd == 4);
}

TEST_CASE("Checkpoint passes --direct for an uncompressed image when runsc and the disk can",
          "[runsc][argv][direct]") {
  FakeRunner fake;
  testing::TempDir tmp;
  const std::string image_dir = tmp / "tmp-1";  // runsc creates it
  RunscOptions options = Options();
  options.direct_checkpoint = true;  // checkpoint.io: direct
  Runsc runsc(&fake, options);
  RunscFeatures features = GlobalFlags({"checkpoint.compression", "checkpoint.direct"});
  auto argv_of = [&](const std::string& dir, const std::string& compression) {
    REQUIRE(runsc.Checkpoint("osgv-1", dir, compression, std::chrono::seconds(9)).ok());
    return AfterGlobals(runsc, fake.last().argv);
  };
  SECTION("a runsc without checkpoint --direct never gets it") {
    CHECK(argv_of(image_dir, "none") == Argv{"checkpoint", "--image-path=" + image_dir,
                                             "--compression=none", "osgv-1"});
    CHECK_FALSE(runsc.CheckpointUsesDirectIo(image_dir, "none"));
  }
  SECTION("a flate image never gets it") {
    runsc.SetFeatures(features);
    CHECK(argv_of(image_dir, "flate") == Argv{"checkpoint", "--image-path=" + image_dir, "osgv-1"});
  }
  SECTION("an image whose parent does not exist cannot be probed and does not get it") {
    runsc.SetFeatures(features);
    const std::string nowhere = tmp / "missing/tmp-1";
    CHECK_FALSE(runsc.CheckpointUsesDirectIo(nowhere, "none"));
    CHECK(argv_of(nowhere, "none") == Argv{"checkpoint", "--image-path=" + nowhere,
                                           "--compression=none", "osgv-1"});
  }
  SECTION("without checkpoint.io: direct, never") {
    Runsc buffered(&fake, Options());
    buffered.SetFeatures(features);
    CHECK_FALSE(buffered.CheckpointUsesDirectIo(image_dir, "none"));
    REQUIRE(buffered.Checkpoint("osgv-1", image_dir, "none", std::chrono::seconds(9)).ok());
    CHECK_FALSE(Contains(fake.last().argv, "--direct"));
  }
  SECTION("uncompressed, with the flag: --direct exactly when the file system takes O_DIRECT") {
    runsc.SetFeatures(features);
    bool direct = FileSystemTakesDirectIo(tmp.path());
    Argv want = {"checkpoint", "--image-path=" + image_dir, "--compression=none"};
    if (direct) want.push_back("--direct");
    want.push_back("osgv-1");
    CHECK(argv_of(image_dir, "none") == want);
    CHECK(runsc.CheckpointUsesDirectIo(image_dir, "none") == direct);
  }
}

TEST_CASE("Restore passes --direct for an uncompressed image when runsc and the disk can",
          "[runsc][argv][direct]") {
  FakeRunner fake;
  testing::TempDir tmp;
  const std::string image = tmp.Dir("image");
  { std::ofstream(image + "/checkpoint.img") << "state"; }
  Runsc runsc(&fake, Options());
  auto restore_argv = [&] {
    REQUIRE(runsc.Restore("osgv-1", "/b", image, "/b/pid", 3, 4, 5).ok());
    return AfterGlobals(runsc, fake.last().argv);
  };
  const Argv plain = {"restore", "--detach", "--bundle", "/b", "--image-path=" + image,
                      "--pid-file=/b/pid", "osgv-1"};
  SECTION("a flate image (no pages file) never gets it") {
    runsc.SetFeatures(GlobalFlags({"restore.direct"}));
    CHECK(restore_argv() == plain);
  }
  SECTION("an uncompressed image in the page cache (written buffered) is read from it") {
    { std::ofstream(image + "/pages.img") << std::string(1 << 16, 'p'); }
    runsc.SetFeatures(GlobalFlags({"restore.direct"}));
    REQUIRE(FileMostlyInPageCache(image + "/pages.img"));
    CHECK(restore_argv() == plain);
  }
  SECTION("an uncompressed image on disk only (written with O_DIRECT)") {
    if (!WriteDirect(image + "/pages.img", 1 << 16)) {
      WARN("this file system has no O_DIRECT");
      return;
    }
    REQUIRE_FALSE(FileMostlyInPageCache(image + "/pages.img"));
    SECTION("with a runsc without restore --direct does not get it") {
      runsc.SetFeatures(GlobalFlags({"checkpoint.direct"}));
      CHECK(restore_argv() == plain);
    }
    SECTION("gets it") {
      runsc.SetFeatures(GlobalFlags({"restore.direct"}));
      Argv want = plain;
      want.insert(want.end() - 1, "--direct");
      CHECK(restore_argv() == want);
    }
  }
}

TEST_CASE("MostlyInPageCache tells a buffered write from a direct one", "[runsc][direct]") {
  testing::TempDir tmp;
  { std::ofstream(tmp / "buffered") << std::string(1 << 16, 'b'); }
  CHECK(FileMostlyInPageCache(tmp / "buffered"));
  // Unknown is "cached": the page cache is the always-correct way to read.
  CHECK(FileMostlyInPageCache(tmp / "missing"));
  { std::ofstream(tmp / "empty"); }
  CHECK(FileMostlyInPageCache(tmp / "empty"));
  if (!WriteDirect(tmp / "direct", 1 << 16)) {
    WARN("this file system has no O_DIRECT");
    return;
  }
  CHECK_FALSE(FileMostlyInPageCache(tmp / "direct"));
}

TEST_CASE("FileSystemTakesDirectIo leaves nothing behind", "[runsc][direct]") {
  testing::TempDir tmp;
  (void)FileSystemTakesDirectIo(tmp.path());
  CHECK(std::filesystem::is_empty(tmp.path()));
  CHECK_FALSE(FileSystemTakesDirectIo(tmp / "missing"));
  // A regular file is no directory to write into.
  { std::ofstream(tmp / "file") << "x"; }
  CHECK_FALSE(FileSystemTakesDirectIo(tmp / "file"));
}

TEST_CASE("networked create start and restore mask /proc/sys/net - other calls do not",
          "[runsc][network]") {
  FakeRunner fake;
  RunscOptions o = Options();
  o.network = "sandbox";
  o.netns_path = "/proc/self/ns/uts";  // exists, and is not our network namespace
  Runsc runsc(&fake, o);
  CHECK(Contains(runsc.GlobalArgs(), "--network=sandbox"));
  REQUIRE(runsc.Create("osgv-1", "/b", "/p", 0, 1, 2).ok());
  CHECK(fake.last().mask_proc_sys_net);
  REQUIRE(runsc.Start("osgv-1").ok());
  CHECK(fake.last().mask_proc_sys_net);
  REQUIRE(runsc.Restore("osgv-1", "/b", "/ck", "/p", 0, 1, 2).ok());
  CHECK(fake.last().mask_proc_sys_net);
  REQUIRE(runsc.Checkpoint("osgv-1", "/ck", "none", std::chrono::seconds(1)).ok());
  CHECK_FALSE(fake.last().mask_proc_sys_net);
  REQUIRE(runsc.Delete("osgv-1", true).ok());
  CHECK_FALSE(fake.last().mask_proc_sys_net);
}

TEST_CASE("a networked boot into the host's own netns is refused before runsc runs",
          "[runsc][network]") {
  FakeRunner fake;
  RunscOptions o = Options();
  o.network = "sandbox";
  o.netns_path = "/proc/self/ns/net";
  Runsc runsc(&fake, o);
  size_t before = fake.commands().size();
  auto st = runsc.Create("osgv-1", "/b", "/p", 0, 1, 2);
  CHECK_FALSE(st.ok());
  CHECK(runsc.Start("osgv-1").code() == st.code());
  o.netns_path = "";
  Runsc no_path(&fake, o);
  CHECK(no_path.Restore("osgv-1", "/b", "/ck", "/p", 0, 1, 2).code() ==
        absl::StatusCode::kFailedPrecondition);
  CHECK(fake.commands().size() == before);
}

TEST_CASE("a killed runsc is an error", "[runsc][errors]") {
  FakeRunner fake;
  CommandResult killed;
  killed.signal = 9;
  fake.SetDefault(killed);
  Runsc runsc(&fake, Options());
  auto st = runsc.Start("osgv-1");
  CHECK_FALSE(st.ok());
  CHECK_THAT(std::string(st.message()), Catch::Contains("signal 9"));
}

TEST_CASE("a timeout is DEADLINE_EXCEEDED", "[runsc][errors]") {
  FakeRunner fake;
  fake.SetDefault(FakeRunner::TimedOut("\nrunsc start osgv-1: timed out after 1234ms"));
  Runsc runsc(&fake, Options());
  CHECK(runsc.Start("osgv-1").code() == absl::StatusCode::kDeadlineExceeded);
  CHECK(runsc.Kill("osgv-1", 9, true).code() == absl::StatusCode::kDeadlineExceeded);
  CHECK(runsc.Delete("osgv-1", true).code() == absl::StatusCode::kDeadlineExceeded);
  CHECK(runsc.Create("osgv-1", "/b", "/p", 0, 1, 2).code() == absl::StatusCode::kDeadlineExceeded);
}

TEST_CASE("a runner error passes through unchanged", "[runsc][errors]") {
  FakeRunner fake;
  fake.SetDefault(absl::UnavailableError("no processes left"));
  Runsc runsc(&fake, Options());
  auto st = runsc.Start("osgv-1");
  CHECK(st.code() == absl::StatusCode::kUnavailable);
  CHECK(runsc.State("osgv-1").status().code() == absl::StatusCode::kUnavailable);
  CHECK(runsc.List().status().code() == absl::StatusCode::kUnavailable);
  CHECK(runsc.Delete("osgv-1", false).code() == absl::StatusCode::kUnavailable);
}

// ---- ExecArgv ---------------------------------------------------------------

TEST_CASE("ExecArgv: global flags then exec then id then command - never --tty", "[runsc][argv]") {
  FakeRunner fake;
  Runsc runsc(&fake, Options());
  runsc.SetFeatures(GlobalFlags({"overlay2"}));
  Argv g = runsc.GlobalArgs();

  Argv plain = runsc.ExecArgv("osgv-1", {"/bin/sh", "-c", "echo 'a b'"});
  Argv want = g;
  for (const char* a : {"exec", "osgv-1", "/bin/sh", "-c", "echo 'a b'"}) want.push_back(a);
  CHECK(plain == want);

  // This runsc's exec rejects --tty ("flag provided but not defined").
  CHECK(std::find(plain.begin(), plain.end(), "--tty") == plain.end());

  // Building the argv runs nothing.
  CHECK(fake.count() == 0);
}

TEST_CASE("ExecArgv keeps a command that looks like flags after the id", "[runsc][argv]") {
  FakeRunner fake;
  Runsc runsc(&fake, Options());
  Argv argv = runsc.ExecArgv("osgv-1", {"--tty", "--help"});
  Argv tail = AfterGlobals(runsc, argv);
  CHECK(tail == Argv{"exec", "osgv-1", "--tty", "--help"});
}

}  // namespace
}  // namespace osgv
