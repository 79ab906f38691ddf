// SHA-256 digests of files and strings (OpenSSL EVP), in OCI form.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace osgv {

// "sha256:<64 lowercase hex>" of the file's bytes.
absl::StatusOr<std::string> Sha256File(const std::string& path);
std::string Sha256String(const std::string& data);

// Checks that `digest` is a well-formed "sha256:<hex>" string.
bool IsSha256Digest(const std::string& digest);

// Verifies the file against `digest`; FAILED_PRECONDITION naming both on
// mismatch (DATA_LOSS-free wording so the message reads well in a condition).
absl::Status VerifyFileDigest(const std::string& path, const std::string& digest);

}  // namespace osgv
