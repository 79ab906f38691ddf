// Platform-event metadata the OpenShell CLI reads to show provisioning
// progress and to extend its idle timeout (gateway-contract.md §4.6).
#pragma once

#include <map>
#include <string>

namespace osgv::progress {

inline constexpr char kCompleteStep[] = "openshell.progress.complete_step";
inline constexpr char kCompleteLabel[] = "openshell.progress.complete_label";
inline constexpr char kActiveStep[] = "openshell.progress.active_step";
inline constexpr char kActiveDetail[] = "openshell.progress.active_detail";

inline constexpr char kRequestingSandbox[] = "requesting_sandbox";
inline constexpr char kPullingImage[] = "pulling_image";
inline constexpr char kStartingSandbox[] = "starting_sandbox";

// A step finished and the next one began.
inline std::map<std::string, std::string> Step(const std::string& done, const std::string& label,
                                               const std::string& active,
                                               const std::string& detail) {
  std::map<std::string, std::string> m = {
      {kCompleteStep, done}, {kCompleteLabel, label}, {kActiveStep, active}};
  if (!detail.empty()) m[kActiveDetail] = detail;
  return m;
}

// Progress within the active step.
inline std::map<std::string, std::string> Active(const std::string& step,
                                                 const std::string& detail) {
  return {{kActiveStep, step}, {kActiveDetail, detail}};
}

}  // namespace osgv::progress
