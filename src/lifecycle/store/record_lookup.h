// Finding a sandbox the way an operator names it: by id, or by name when
// that name is unique across workspaces.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "lifecycle/store/state_store.h"

namespace osgv {

absl::StatusOr<SandboxRecord> FindRecord(const std::vector<SandboxRecord>& records,
                                         const std::string& id_or_name);

}  // namespace osgv
