#include "cli/command_errors.h"

#include <iostream>

#include "absl/strings/match.h"

namespace osgv {

int CommandError(absl::string_view command, absl::string_view message, int code) {
  std::cerr << command << ": " << message << "\n";
  return code;
}

int UsageError(absl::string_view command, absl::string_view problem, absl::string_view usage) {
  std::cerr << command << ": " << problem << "\n" << usage;
  if (!absl::EndsWith(usage, "\n")) std::cerr << "\n";
  return kExitUsage;
}

int CommandFailed(absl::string_view what, const absl::Status& status) {
  std::cerr << what << " failed: " << absl::StatusCodeToString(status.code()) << ": "
            << status.message() << "\n";
  return 1;
}

}  // namespace osgv
