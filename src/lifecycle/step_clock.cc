#include "lifecycle/step_clock.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace osgv {

void StepClock::Lap(std::string_view step) {
  auto now = Clock::now();
  steps_.emplace_back(std::string(step),
                      std::chrono::duration<double, std::milli>(now - last_).count());
  last_ = now;
}

double StepClock::TotalMs() const {
  return std::chrono::duration<double, std::milli>(Clock::now() - start_).count();
}

std::string StepClock::Summary() const {
  std::string out = absl::StrFormat("total %.1f ms", TotalMs());
  const char* sep = " (";
  for (const auto& [step, ms] : steps_) {
    absl::StrAppendFormat(&out, "%s%s %.1f", sep, step, ms);
    sep = ", ";
  }
  if (!steps_.empty()) out += ")";
  return out;
}

}  // namespace osgv
