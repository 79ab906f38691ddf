// The unit tests' main. spdlog builds its registry (the default logger) on
// first use, inside a function-local static of Debian's uninstrumented
// libspdlog; when the first log line of a test process comes from two
// operation workers at once (recovery runs sandboxes in parallel), TSan
// cannot see that static's guard and reports a race. The driver itself
// sets its logging up before any thread starts (SetupLogging); so do the
// tests, here.
#define CATCH_CONFIG_RUNNER
#include <spdlog/spdlog.h>

#include <catch2/catch.hpp>

int main(int argc, char* argv[]) {
  spdlog::default_logger();
  return Catch::Session().run(argc, argv);
}
