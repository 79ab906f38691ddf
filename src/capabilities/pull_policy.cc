#include "capabilities/pull_policy.h"

namespace osgv {

const char* PullPolicyName(PullPolicy policy) {
  switch (policy) {
    case PullPolicy::kIfNotPresent: return "if-not-present";
    case PullPolicy::kAlways: return "always";
    case PullPolicy::kNever: return "never";
  }
  return "?";
}

std::optional<PullPolicy> ParsePullPolicy(std::string_view name) {
  for (PullPolicy p : {PullPolicy::kIfNotPresent, PullPolicy::kAlways, PullPolicy::kNever}) {
    if (name == PullPolicyName(p)) return p;
  }
  return std::nullopt;
}

}  // namespace osgv
