#include "cli/probe/probe_report.h"

#include <catch2/catch.hpp>
#include <set>

#include "cli/probe/probe.h"

namespace osgv {
namespace {

constexpr auto kPass = ProbeOutcome::kPass;
constexpr auto kFail = ProbeOutcome::kFail;
constexpr auto kSkip = ProbeOutcome::kCouldNotRun;

std::vector<ProbeRow> TwoRows(ProbeOutcome second) {
  return {{"kernel_is_gvisor", "uname -r is not the host's", kPass, "'4.4.0' vs host '6.1'"},
          {"host_file_by_path", "sentinel unreadable", second, "line one\nline two"}};
}

TEST_CASE("the probe table has a header a row per probe and a summary", "[probe]") {
  std::string t = FormatProbeTable(TwoRows(kFail));
  CHECK(t.find("PROBE") == 0);
  CHECK(t.find("EXPECTATION") != std::string::npos);
  CHECK(t.find("kernel_is_gvisor   uname -r is not the host's  PASS    '4.4.0'") != std::string::npos);
  CHECK(t.find("host_file_by_path  sentinel unreadable         FAIL    line") != std::string::npos);
  CHECK(t.find("line one line two") != std::string::npos);  // evidence on one line
  CHECK(t.find("1/2 probes passed\n") != std::string::npos);
  CHECK(t.find("could not run") == std::string::npos);
}

TEST_CASE("a probe that could not run is a SKIP row, counted apart in the summary", "[probe]") {
  std::string t = FormatProbeTable(TwoRows(kSkip));
  CHECK(t.find("host_file_by_path  sentinel unreadable         SKIP    line one") != std::string::npos);
  CHECK(t.find("FAIL") == std::string::npos);
  CHECK(t.find("1/2 probes passed, 1 could not run\n") != std::string::npos);
}

TEST_CASE("probe json has one object per row with every field", "[probe]") {
  auto j = ProbeRowsToJson(TwoRows(kPass));
  REQUIRE(j.is_array());
  REQUIRE(j.size() == 2);
  CHECK(j[0]["probe"] == "kernel_is_gvisor");
  CHECK(j[0]["expectation"] == "uname -r is not the host's");
  CHECK(j[0]["pass"] == true);
  CHECK(j[0]["result"] == "PASS");
  CHECK(j[1]["evidence"] == "line one\nline two");
  CHECK(nlohmann::json::parse(j.dump()) == j);
}

TEST_CASE("probe json tells a failure from a probe that could not run", "[probe]") {
  auto failed = ProbeRowsToJson(TwoRows(kFail));
  CHECK(failed[1]["pass"] == false);
  CHECK(failed[1]["result"] == "FAIL");
  auto skipped = ProbeRowsToJson(TwoRows(kSkip));
  CHECK(skipped[1]["pass"] == false);  // not a pass, for consumers that only read "pass"
  CHECK(skipped[1]["result"] == "SKIP");
}

TEST_CASE("probe exit code: 0 all passed, 1 any failed, 3 none failed but some could not run",
          "[probe]") {
  CHECK(ProbeExitCode(TwoRows(kPass)) == 0);
  CHECK(ProbeExitCode(TwoRows(kFail)) == 1);
  CHECK(ProbeExitCode(TwoRows(kSkip)) == 3);
  auto both = TwoRows(kSkip);
  both.push_back({"sys_write", "host /sys value unchanged", kFail, "changed"});
  CHECK(ProbeExitCode(both) == 1);  // a failure outweighs a skip
  std::vector<ProbeRow> only_skipped = {{"a", "b", kSkip, "no tools"}};
  CHECK(ProbeExitCode(only_skipped) == 3);
  CHECK(ProbeExitCode({}) == 1);
}

TEST_CASE("rows are listed by outcome", "[probe]") {
  auto rows = TwoRows(kSkip);
  rows.push_back({"sys_write", "host /sys value unchanged", kFail, "changed"});
  CHECK(ProbesWith(rows, kPass) == std::vector<std::string>{"kernel_is_gvisor"});
  CHECK(ProbesWith(rows, kFail) == std::vector<std::string>{"sys_write"});
  CHECK(ProbesWith(rows, kSkip) == std::vector<std::string>{"host_file_by_path"});
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

TEST_CASE("every probe names the tools it runs inside", "[probe]") {
  for (const auto& p : BoundaryProbes()) {
    INFO(p.name);
    CHECK_FALSE(p.tools.empty());
  }
  auto all = AllProbeTools();
  std::set<std::string> unique(all.begin(), all.end());
  CHECK(unique.size() == all.size());
  for (const char* tool : {"sh", "uname", "cat", "nc", "mkdir", "sleep"}) CHECK(unique.count(tool) == 1);
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
