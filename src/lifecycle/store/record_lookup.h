// Finding a sandbox the way the gateway or an operator names it. One rule
// for the gRPC requests (sandbox_id or sandbox_name) and for `exec`,
// `export` and `ctl` (an id or a name): an id names exactly its sandbox; a
// name only when one sandbox has it. Names are unique per workspace, not
// per driver, so picking one of two would act on the wrong sandbox.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "lifecycle/store/state_store.h"

namespace osgv {

// The index in `records` of the sandbox with `id` when `id` is not empty
// (its name then plays no part), else of the one named `name`. NOT_FOUND
// ("sandbox '<key>' not found"), or FAILED_PRECONDITION starting
// "sandbox_name:" and listing the ids when several sandboxes have the name.
absl::StatusOr<size_t> LookupSandbox(const std::vector<const SandboxRecord*>& records,
                                     const std::string& id, const std::string& name);

// By id, else by name (LookupSandbox's rule for either).
absl::StatusOr<SandboxRecord> FindRecord(const std::vector<SandboxRecord>& records,
                                         const std::string& id_or_name);

}  // namespace osgv
