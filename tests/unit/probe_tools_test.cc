#include "cli/probe/probe_tools.h"

#include <elf.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "cli/run/ephemeral_session.h"
#include "temp_dir.h"

namespace osgv {
namespace {

using testing::TempDir;

// A 64-bit ELF header and program headers only: enough for the PT_INTERP check.
std::string WriteElf(const TempDir& dir, const std::string& name, bool with_interp,
                     unsigned char elf_class = ELFCLASS64) {
  Elf64_Ehdr eh{};
  memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = elf_class;
  eh.e_ident[EI_DATA] = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? ELFDATA2LSB : ELFDATA2MSB;
  eh.e_phoff = sizeof eh;
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = 2;
  Elf64_Phdr load{};
  load.p_type = PT_LOAD;
  Elf64_Phdr second{};
  second.p_type = with_interp ? PT_INTERP : PT_GNU_STACK;
  std::string path = dir / name;
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(&eh), sizeof eh);
  f.write(reinterpret_cast<const char*>(&load), sizeof load);
  f.write(reinterpret_cast<const char*>(&second), sizeof second);
  f.close();
  chmod(path.c_str(), 0755);
  return path;
}

CommandResult Listing(const std::string& out, int exit_code = 0, const std::string& err = "") {
  CommandResult r;
  r.exit_code = exit_code;
  r.stdout_text = out;
  r.stderr_text = err;
  return r;
}

TEST_CASE("a static busybox is found by its real path", "[probe][probe_tools]") {
  TempDir dir;
  std::string real = WriteElf(dir, "busybox", false);
  std::filesystem::create_symlink(real, dir / "link");
  auto found = FindStaticBusybox(dir / "link");
  REQUIRE(found.ok());
  CHECK(*found == std::filesystem::canonical(real).string());
}

TEST_CASE("a busybox that needs a loader or is not one is refused with the reason", "[probe][probe_tools]") {
  TempDir dir;
  auto dynamic = FindStaticBusybox(WriteElf(dir, "dynamic", true));
  CHECK(dynamic.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(std::string(dynamic.status().message()).find("PT_INTERP") != std::string::npos);

  auto elf32 = FindStaticBusybox(WriteElf(dir, "elf32", false, ELFCLASS32));
  CHECK(std::string(elf32.status().message()).find("not a 64-bit ELF") != std::string::npos);

  { std::ofstream(dir / "script") << "#!/bin/sh\necho hi\n"; }
  chmod((dir / "script").c_str(), 0755);
  auto script = FindStaticBusybox(dir / "script");
  CHECK(std::string(script.status().message()).find("not an ELF file") != std::string::npos);

  std::string plain = WriteElf(dir, "plain", false);
  chmod(plain.c_str(), 0644);
  CHECK(std::string(FindStaticBusybox(plain).status().message()).find("not executable") !=
        std::string::npos);

  CHECK(FindStaticBusybox(dir / "absent").status().code() == absl::StatusCode::kNotFound);
  CHECK(std::string(FindStaticBusybox(dir.path()).status().message()).find("not a regular file") !=
        std::string::npos);
}

TEST_CASE("without a static busybox on the host the probes use the image's tools", "[probe][probe_tools]") {
  TempDir dir;
  auto tools = ProbeTools::ForHost(WriteElf(dir, "dynamic", true));
  CHECK_FALSE(tools.brought());
  CHECK(tools.Describe().find("PT_INTERP") != std::string::npos);
  CHECK(ProbeTools::ForHost(WriteElf(dir, "static", false)).brought());
}

TEST_CASE("brought tools run as busybox applets from a read-only mount", "[probe][probe_tools]") {
  auto tools = ProbeTools::Brought("/usr/bin/busybox");
  REQUIRE(tools.Mounts().size() == 1);
  CHECK(tools.Mounts()[0].source == "/usr/bin/busybox");
  CHECK(tools.Mounts()[0].destination == kProbeBusyboxPath);
  CHECK(tools.Mounts()[0].read_only);
  CHECK(tools.Argv({"uname", "-r"}) == std::vector<std::string>{kProbeBusyboxPath, "uname", "-r"});
  CHECK(tools.ShArgv("echo hi") == std::vector<std::string>{kProbeBusyboxPath, "sh", "-c", "echo hi"});
  CHECK(tools.KeepAlive() == std::vector<std::string>{kProbeBusyboxPath, "sleep", "2147483647"});
  CHECK(tools.ListArgv({"uname"}) == std::vector<std::string>{kProbeBusyboxPath, "--list"});
  CHECK(tools.Describe().find("/usr/bin/busybox") != std::string::npos);
}

TEST_CASE("a probe needing an applet the brought busybox lacks cannot run", "[probe][probe_tools]") {
  auto tools = ProbeTools::Brought("/usr/bin/busybox");
  tools.Learn(Listing("[\nsh\ncat\nuname\n"));
  CHECK(tools.Missing({"sh", "uname"}).empty());
  CHECK(tools.Missing({"sh", "nc", "ip"}) == "the brought busybox has no nc, ip");

  tools.Learn(Listing("", 125, "error finding executable"));
  CHECK(tools.Missing({"cat"}).find("the brought busybox did not run (exit code 125: error finding") == 0);
}

TEST_CASE("the image's tools are looked up with its shell", "[probe][probe_tools]") {
  auto tools = ProbeTools::FromImage("/bin/busybox: No such file or directory");
  CHECK(tools.Mounts().empty());
  CHECK(tools.Argv({"uname", "-r"}) ==
        std::vector<std::string>{"/bin/sh", "-c", "exec \"$@\"", "sh", "uname", "-r"});
  CHECK(tools.ShArgv("echo hi") == std::vector<std::string>{"/bin/sh", "-c", "echo hi"});
  CHECK(tools.KeepAlive() == kKeepAlive);
  auto list = tools.ListArgv({"cat", "uname", "x;reboot"});
  REQUIRE(list.size() == 3);
  CHECK(list[2].find("for t in cat uname;") == 0);
  CHECK(list[2].find("reboot") == std::string::npos);
}

TEST_CASE("a probe needing a tool the image lacks says so, not FAIL", "[probe][probe_tools]") {
  auto tools = ProbeTools::FromImage("/bin/busybox: No such file or directory");
  tools.Learn(Listing("sh\ncat\nosgv-listed\n"));
  CHECK(tools.Missing({"sh", "cat"}).empty());
  CHECK(tools.Missing({"uname"}) ==
        "the image has no uname and no busybox was brought (/bin/busybox: No such file or directory)");
  CHECK(tools.Missing({"osgv-listed"}) != "");  // the marker is not a tool
}

TEST_CASE("an image without a shell has no tools the probes can find", "[probe][probe_tools]") {
  auto tools = ProbeTools::FromImage("no busybox");
  tools.Learn(Listing("", 125, "error finding executable /bin/sh\nmore"));
  std::string why = tools.Missing({"uname"});
  CHECK(why.find("could not look for uname in the image (/bin/sh: exit code 125: error finding "
                 "executable /bin/sh) and no busybox was brought (no busybox)") == 0);
  // A listing cut short (no marker) counts as failed too, even with names in it.
  tools.Learn(Listing("cat\n", 137));
  CHECK_FALSE(tools.Missing({"cat"}).empty());
}

TEST_CASE("a --mount onto the probe's tools dir is refused", "[probe][probe_tools]") {
  for (const char* dest : {"/.osgv-probe", "/.osgv-probe/", "/.osgv-probe/busybox", "/.osgv-probe/x/y"}) {
    INFO(dest);
    auto st = CheckMountsLeaveProbeTools({{"/srv", "/data", true}, {"/srv", dest, true}});
    CHECK(st.code() == absl::StatusCode::kInvalidArgument);
    CHECK(std::string(st.message()).find(std::string("--mount '/srv:") + dest + "'") == 0);
  }
  CHECK(CheckMountsLeaveProbeTools({{"/srv", "/.osgv-probex", false}, {"/srv", "/data", true}}).ok());
}

}  // namespace
}  // namespace osgv
