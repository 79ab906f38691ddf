#include "lifecycle/step_clock.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <regex>
#include <thread>

namespace osgv {
namespace {

TEST_CASE("StepClock names each step with its share of the time in order", "[step_clock]") {
  StepClock clock;
  CHECK(std::regex_match(clock.Summary(), std::regex(R"(total \d+\.\d ms)")));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  clock.Lap("checkpoint");
  clock.Note("of which runsc", 12.3);
  clock.Lap("seal");
  std::string s = clock.Summary();
  INFO(s);
  std::smatch m;
  REQUIRE(std::regex_match(
      s, m, std::regex(R"(total (\d+\.\d) ms \(checkpoint (\d+\.\d), of which runsc 12\.3, seal (\d+\.\d)\))")));
  double total = std::stod(m[1]), checkpoint = std::stod(m[2]), seal = std::stod(m[3]);
  CHECK(checkpoint >= 19.9);  // the sleep; a noted step does not move the clock
  CHECK(seal < checkpoint);
  CHECK(total >= checkpoint + seal - 0.2);
  CHECK(clock.TotalMs() >= total);
}

}  // namespace
}  // namespace osgv
