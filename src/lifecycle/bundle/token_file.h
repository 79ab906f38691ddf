// The sandbox JWT on the host (gateway-contract.md §6.4, §6.9-6.10).
//
// The gateway sends the token once, in CreateSandbox; the stored request
// omits it (spec_codec.h), so this file is its only copy. It lives at
// <sandbox dir>/auth/sandbox.jwt (dir 0700, file 0600, owned by the driver,
// i.e. root), one line, and is bind-mounted read-only at
// /etc/openshell/auth/sandbox.jwt. Deleting the sandbox directory removes it.
//
// Nothing here ever puts the token into a status message or a log line.
#pragma once

#include <string>

#include "absl/status/status.h"

namespace osgv {

// <sandbox_dir>/auth/sandbox.jwt
std::string TokenFilePath(const std::string& sandbox_dir);

// Writes `token` + "\n" atomically and durably (WriteFileAtomic), creating
// <sandbox_dir> and auth/ with mode 0700 when missing. INVALID_ARGUMENT for
// an empty token or one that is not a single line (CR, LF or NUL).
absl::Status WriteTokenFile(const std::string& sandbox_dir, const std::string& token);

// Removes the file (and a leftover .tmp) and the auth/ directory when empty.
// OK when nothing is there.
absl::Status RemoveTokenFile(const std::string& sandbox_dir);

// The file exists (what the bundle builder mounts, also after a restart).
bool HasTokenFile(const std::string& sandbox_dir);

}  // namespace osgv
