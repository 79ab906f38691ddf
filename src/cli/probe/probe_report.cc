#include "cli/probe/probe_report.h"

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

size_t Count(const std::vector<ProbeRow>& rows, ProbeOutcome outcome) {
  return std::count_if(rows.begin(), rows.end(),
                       [outcome](const ProbeRow& r) { return r.outcome == outcome; });
}

}  // namespace

const char* OutcomeWord(ProbeOutcome outcome) {
  switch (outcome) {
    case ProbeOutcome::kPass:
      return "PASS";
    case ProbeOutcome::kFail:
      return "FAIL";
    case ProbeOutcome::kCouldNotRun:
      return "SKIP";
  }
  return "FAIL";
}

std::string FormatProbeTable(const std::vector<ProbeRow>& rows) {
  size_t w_probe = 5, w_expect = 11;
  for (const auto& r : rows) {
    w_probe = std::max(w_probe, r.probe.size());
    w_expect = std::max(w_expect, r.expectation.size());
  }
  std::string out = absl::StrCat(Pad("PROBE", w_probe), "  ", Pad("EXPECTATION", w_expect),
                                 "  RESULT  EVIDENCE\n");
  for (const auto& r : rows) {
    absl::StrAppend(&out, Pad(r.probe, w_probe), "  ", Pad(r.expectation, w_expect), "  ",
                    Pad(OutcomeWord(r.outcome), 6), "  ", OneLine(r.evidence), "\n");
  }
  absl::StrAppend(&out, Count(rows, ProbeOutcome::kPass), "/", rows.size(), " probes passed");
  if (size_t skipped = Count(rows, ProbeOutcome::kCouldNotRun); skipped > 0) {
    absl::StrAppend(&out, ", ", skipped, " could not run");
  }
  return out + "\n";
}

nlohmann::json ProbeRowsToJson(const std::vector<ProbeRow>& rows) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : rows) {
    out.push_back({{"probe", r.probe},
                   {"expectation", r.expectation},
                   {"pass", r.outcome == ProbeOutcome::kPass},
                   {"result", OutcomeWord(r.outcome)},
                   {"evidence", r.evidence}});
  }
  return out;
}

int ProbeExitCode(const std::vector<ProbeRow>& rows) {
  if (rows.empty() || Count(rows, ProbeOutcome::kFail) > 0) return kProbeExitFailed;
  if (Count(rows, ProbeOutcome::kCouldNotRun) > 0) return kProbeExitCouldNotRun;
  return kProbeExitAllPassed;
}

std::vector<std::string> ProbesWith(const std::vector<ProbeRow>& rows, ProbeOutcome outcome) {
  std::vector<std::string> names;
  for (const auto& r : rows) {
    if (r.outcome == outcome) names.push_back(r.probe);
  }
  return names;
}

}  // namespace osgv
