// Live tests need root, runsc and a few Debian tools. They run only when
// OPENSHELL_GVISOR_LIVE=1; otherwise each one says why and exits 77, which
// ctest counts as "skipped" rather than "passed".
#define CATCH_CONFIG_RUNNER
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "live_support.h"

int main(int argc, char* argv[]) {
  bool listing = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--list", 6) == 0) listing = true;
  }
  if (!listing) {
    const char* live = std::getenv("OPENSHELL_GVISOR_LIVE");
    if (live == nullptr || std::strcmp(live, "1") != 0) {
      std::cout << "SKIPPED: live test needs real runsc; set OPENSHELL_GVISOR_LIVE=1 "
                   "(scripts/test.sh and .ci/run do)\n";
      return 77;
    }
    if (geteuid() != 0) {
      std::cout << "SKIPPED: live test needs root (runsc creates cgroups and mounts)\n";
      return 77;
    }
  }
  int failed = Catch::Session().run(argc, argv);
  if (failed == 0 && !listing) osgv::live::RemoveTempDirs();
  return failed;
}
