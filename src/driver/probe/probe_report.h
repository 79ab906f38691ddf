// The result of a probe run, as a table for people or JSON for machines.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace osgv {

struct ProbeRow {
  std::string probe;        // snake_case name
  std::string expectation;  // what must hold, in a few words
  bool pass = false;
  std::string evidence;     // what was seen, on both sides of the boundary
};

// Aligned columns PROBE, EXPECTATION, RESULT, EVIDENCE, then a summary line
// "N/M probes passed". Evidence is kept to one line.
std::string FormatProbeTable(const std::vector<ProbeRow>& rows);

// [{"probe":..,"expectation":..,"pass":true,"evidence":..}, ...]
nlohmann::json ProbeRowsToJson(const std::vector<ProbeRow>& rows);

// 0 only when there is at least one row and every row passed, else 1.
int ProbeExitCode(const std::vector<ProbeRow>& rows);

}  // namespace osgv
