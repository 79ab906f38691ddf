// The result of a probe run, as a table for people or JSON for machines.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace osgv {

// A probe either saw the boundary hold (PASS), saw it crossed (FAIL, with
// the evidence), or could not look at all (SKIP: a tool the probe needs is
// missing inside, or a host-side fact it compares with cannot be read).
// SKIP is never counted as a pass or as a failure.
enum class ProbeOutcome { kPass, kFail, kCouldNotRun };

// "PASS", "FAIL" or "SKIP".
const char* OutcomeWord(ProbeOutcome outcome);

struct ProbeRow {
  std::string probe;        // snake_case name
  std::string expectation;  // what must hold, in a few words
  ProbeOutcome outcome = ProbeOutcome::kFail;
  std::string evidence;     // what was seen, on both sides; for SKIP, why it could not run
};

// Aligned columns PROBE, EXPECTATION, RESULT, EVIDENCE, then a summary line
// "N/M probes passed" (", K could not run" appended when K > 0). Evidence
// is kept to one line.
std::string FormatProbeTable(const std::vector<ProbeRow>& rows);

// [{"probe":..,"expectation":..,"pass":true,"result":"PASS","evidence":..}, ...]
// "pass" is true for PASS only; "result" tells FAIL from SKIP.
nlohmann::json ProbeRowsToJson(const std::vector<ProbeRow>& rows);

// Exit codes of `probe` once the probes ran (probe --help lists them all).
inline constexpr int kProbeExitAllPassed = 0;
inline constexpr int kProbeExitFailed = 1;
inline constexpr int kProbeExitCouldNotRun = 3;

// kProbeExitAllPassed when there is at least one row and every row passed;
// kProbeExitFailed when any row failed or there are no rows;
// kProbeExitCouldNotRun when none failed but some could not run.
int ProbeExitCode(const std::vector<ProbeRow>& rows);

// The names of the rows with `outcome`, in order.
std::vector<std::string> ProbesWith(const std::vector<ProbeRow>& rows, ProbeOutcome outcome);

}  // namespace osgv
