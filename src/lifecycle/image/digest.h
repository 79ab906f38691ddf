// SHA-256 digests of files and strings (OpenSSL EVP), in OCI form.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX

namespace osgv {

// Incremental SHA-256, for bytes that are hashed as they are read.
class Sha256Hasher {
 public:
  Sha256Hasher();
  void Update(const void* data, size_t len);
  // "sha256:<64 lowercase hex>"; only allocation failure in OpenSSL fails.
  absl::StatusOr<std::string> Finish();

 private:
  struct CtxFree {
    void operator()(evp_md_ctx_st* ctx) const;
  };
  std::unique_ptr<evp_md_ctx_st, CtxFree> ctx_;
  bool ok_ = false;
};

// "sha256:<64 lowercase hex>" of the file's bytes.
absl::StatusOr<std::string> Sha256File(const std::string& path);
std::string Sha256String(const std::string& data);

// Checks that `digest` is a well-formed "sha256:<hex>" string.
bool IsSha256Digest(const std::string& digest);

// Verifies the file against `digest`; FAILED_PRECONDITION naming both on
// mismatch (DATA_LOSS-free wording so the message reads well in a condition).
absl::Status VerifyFileDigest(const std::string& path, const std::string& digest);

}  // namespace osgv
