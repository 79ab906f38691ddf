// When a registry image is pulled (images.pull_policy, a request's
// driver_config.pull_policy), in the spelling of Kubernetes'
// imagePullPolicy, and its one text codec for the config file and requests.
#pragma once

#include <optional>
#include <string_view>

namespace osgv {

enum class PullPolicy {
  kIfNotPresent,  // a copy in the blob store is used with no network
  kAlways,        // the registry is asked again (a tag may have moved)
  kNever,         // fails unless present
};

// "if-not-present", "always", "never".
const char* PullPolicyName(PullPolicy policy);
std::optional<PullPolicy> ParsePullPolicy(std::string_view name);

}  // namespace osgv
