// The sandbox record an archive carries is untrusted input, like a gateway
// request: whoever wrote the archive chose every field of its manifest
// (recomputing any digest in it is trivial). Import checks it as create
// checks a request, against this driver's configuration, before anything
// is written.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "capabilities/config.h"
#include "lifecycle/migration/sandbox_manifest.h"
#include "lifecycle/sandbox_plan.h"

namespace osgv {

// The only file an archive may carry (as files/<it>), relative to the
// sandbox dir: the sandbox token file (bundle/token_file.h).
std::string CarriedTokenFile();

// The plan the record gets on this driver (PlanSandbox: the archive's own
// host decided nothing here) when it could have been made by CreateSandbox
// on this driver:
//   - record.spec (the stored request) decodes, passes
//     PlanSandbox(request, config), names the same id, name,
//     workspace and namespace as the record, holds no token and no
//     host_mounts (an archive may not name host paths);
//   - record.image_ref parses and is the request's image; record.image_digest
//     is "" or sha256:<64 lowercase hex>;
//   - files (carried_files) names nothing but CarriedTokenFile().
// (The phase is checked when the manifest is parsed: stopped only.)
// Otherwise INVALID_ARGUMENT whose message starts with the field
// ("record.spec.host_mounts: ..."), or the validator's code with
// "record.spec: " before its message.
absl::StatusOr<SandboxPlan> CheckArchivedRecord(const SandboxArchiveManifest& manifest,
                                                const Config& config);

}  // namespace osgv
