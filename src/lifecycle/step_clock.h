// Where an operation's time went, for the debug log: "total 93.1 ms
// (record 2.0, checkpoint 58.3, seal 4.1, stored 2.2)". Operators read it
// when a Stop or Start is slower than runsc alone; bench/ quotes it.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace osgv {

class StepClock {
 public:
  StepClock() : start_(Clock::now()), last_(start_) {}

  // Closes the step that began at the previous Lap (or construction).
  void Lap(std::string_view step);
  // Adds a step measured elsewhere (e.g. inside the monitor), without
  // moving the clock.
  void Note(std::string_view step, double ms) { steps_.emplace_back(std::string(step), ms); }

  double TotalMs() const;
  std::string Summary() const;

 private:
  using Clock = std::chrono::steady_clock;
  Clock::time_point start_;
  Clock::time_point last_;
  std::vector<std::pair<std::string, double>> steps_;
};

}  // namespace osgv
