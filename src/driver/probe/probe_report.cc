#include "driver/probe/probe_report.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace osgv {
namespace {

std::string OneLine(const std::string& s) {
  return absl::StrReplaceAll(s, {{"\r", " "}, {"\n", " "}, {"\t", " "}});
}

std::string Pad(const std::string& s, size_t width) {
  return s.size() >= width ? s : s + std::string(width - s.size(), ' ');
}

}  // namespace

std::string FormatProbeTable(const std::vector<ProbeRow>& rows) {
  size_t w_probe = 5, w_expect = 11;
  for (const auto& r : rows) {
    w_probe = std::max(w_probe, r.probe.size());
    w_expect = std::max(w_expect, r.expectation.size());
  }
  std::string out = absl::StrCat(Pad("PROBE", w_probe), "  ", Pad("EXPECTATION", w_expect),
                                 "  RESULT  EVIDENCE\n");
  size_t passed = 0;
  for (const auto& r : rows) {
    passed += r.pass ? 1 : 0;
    absl::StrAppend(&out, Pad(r.probe, w_probe), "  ", Pad(r.expectation, w_expect), "  ",
                    r.pass ? "PASS  " : "FAIL  ", "  ", OneLine(r.evidence), "\n");
  }
  absl::StrAppend(&out, passed, "/", rows.size(), " probes passed\n");
  return out;
}

nlohmann::json ProbeRowsToJson(const std::vector<ProbeRow>& rows) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : rows) {
    out.push_back({{"probe", r.probe},
                   {"expectation", r.expectation},
                   {"pass", r.pass},
                   {"evidence", r.evidence}});
  }
  return out;
}

int ProbeExitCode(const std::vector<ProbeRow>& rows) {
  if (rows.empty()) return 1;
  bool all = std::all_of(rows.begin(), rows.end(), [](const ProbeRow& r) { return r.pass; });
  return all ? 0 : 1;
}

}  // namespace osgv
