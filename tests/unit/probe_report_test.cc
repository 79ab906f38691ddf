#include "driver/probe/probe_report.h"

#include <catch2/catch.hpp>
#include <set>

#include "driver/probe/probe.h"

namespace osgv {
namespace {

std::vector<ProbeRow> TwoRows(bool second_passes) {
  return {{"kernel_is_gvisor", "uname -r is not the host's", true, "'4.4.0' vs host '6.1'"},
          {"host_file_by_path", "sentinel unreadable", second_passes, "line one\nline two"}};
}

TEST_CASE("the probe table has a header a row per probe and a summary", "[probe]") {
  std::string t = FormatProbeTable(TwoRows(false));
  CHECK(t.find("PROBE") == 0);
  CHECK(t.find("EXPECTATION") != std::string::npos);
  CHECK(t.find("kernel_is_gvisor   uname -r is not the host's  PASS") != std::string::npos);
  CHECK(t.find("host_file_by_path  sentinel unreadable         FAIL") != std::string::npos);
  CHECK(t.find("line one line two") != std::string::npos);  // evidence on one line
  CHECK(t.find("1/2 probes passed\n") != std::string::npos);
}

TEST_CASE("probe json has one object per row with every field", "[probe]") {
  auto j = ProbeRowsToJson(TwoRows(true));
  REQUIRE(j.is_array());
  REQUIRE(j.size() == 2);
  CHECK(j[0]["probe"] == "kernel_is_gvisor");
  CHECK(j[0]["expectation"] == "uname -r is not the host's");
  CHECK(j[0]["pass"] == true);
  CHECK(j[1]["evidence"] == "line one\nline two");
  CHECK(nlohmann::json::parse(j.dump()) == j);
}

TEST_CASE("probe exit code is 0 only when every probe passed", "[probe]") {
  CHECK(ProbeExitCode(TwoRows(true)) == 0);
  CHECK(ProbeExitCode(TwoRows(false)) == 1);
  CHECK(ProbeExitCode({}) == 1);
}

TEST_CASE("the probe battery has at least 20 uniquely named probes", "[probe]") {
  const auto& probes = BoundaryProbes();
  CHECK(probes.size() >= 20);
  std::set<std::string> names;
  for (const auto& p : probes) {
    CHECK(p.run != nullptr);
    CHECK(std::string(p.expectation).size() > 0);
    names.insert(p.name);
  }
  CHECK(names.size() == probes.size());
}

TEST_CASE("probe evidence briefs show the status and the first output", "[probe]") {
  CommandResult r;
  r.exit_code = 1;
  r.stderr_text = "cat: can't open '/x': No such file or directory\n";
  CHECK(Brief(r) == "exit 1: cat: can't open '/x': No such file or directory");
  r.stderr_text = std::string(200, 'a');
  CHECK(Brief(r, 10) == "exit 1: aaaaaaaaaa...");
  CommandResult killed;
  killed.signal = 9;
  CHECK(Brief(killed) == "signal 9");
}

}  // namespace
}  // namespace osgv
