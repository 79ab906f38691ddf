// SHA-256 in OCI digest form. Files are streamed through a fixed buffer so a
// multi-gigabyte layer never has to fit in memory.
#include "lifecycle/image/digest.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "lifecycle/image/status_util.h"

namespace osgv {
namespace {

constexpr char kPrefix[] = "sha256:";
constexpr size_t kPrefixLen = sizeof(kPrefix) - 1;
constexpr size_t kHexLen = 64;

}  // namespace

void Sha256Hasher::CtxFree::operator()(evp_md_ctx_st* ctx) const { EVP_MD_CTX_free(ctx); }

Sha256Hasher::Sha256Hasher() : ctx_(EVP_MD_CTX_new()) {
  ok_ = ctx_ && EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) == 1;
}

void Sha256Hasher::Update(const void* data, size_t len) {
  ok_ = ok_ && EVP_DigestUpdate(ctx_.get(), data, len) == 1;
}

absl::StatusOr<std::string> Sha256Hasher::Finish() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  ok_ = ok_ && EVP_DigestFinal_ex(ctx_.get(), md, &md_len) == 1;
  if (!ok_) return absl::InternalError("OpenSSL SHA-256 failed");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = kPrefix;
  for (unsigned int i = 0; i < md_len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 0xf]);
  }
  return out;
}

absl::StatusOr<std::string> Sha256File(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return PosixError(errno, "cannot open", path);
  Sha256Hasher hash;
  // Not zero-filled: a fresh 1 MiB vector cost more (memset and page
  // faults) than hashing a small checkpoint image.
  constexpr size_t kChunk = 256 << 10;
  std::unique_ptr<char[]> buf(new char[kChunk]);
  absl::Status status;
  for (;;) {
    ssize_t n = ::read(fd, buf.get(), kChunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      status = PosixError(errno, "cannot read", path);
      break;
    }
    if (n == 0) break;
    hash.Update(buf.get(), static_cast<size_t>(n));
  }
  ::close(fd);
  if (!status.ok()) return status;
  return hash.Finish();
}

std::string Sha256String(const std::string& data) {
  Sha256Hasher hash;
  hash.Update(data.data(), data.size());
  // Hashing a buffer already in memory fails only if OpenSSL cannot allocate
  // its context; an empty string then never equals a real digest.
  return hash.Finish().value_or("");
}

bool IsSha256Digest(const std::string& digest) {
  if (digest.size() != kPrefixLen + kHexLen) return false;
  if (digest.compare(0, kPrefixLen, kPrefix) != 0) return false;
  for (size_t i = kPrefixLen; i < digest.size(); ++i) {
    char c = digest[i];
    // Lowercase only: digests name blob files, so one spelling per content.
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

absl::Status VerifyFileDigest(const std::string& path, const std::string& digest) {
  if (!IsSha256Digest(digest)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", digest, "' is not a sha256:<64 lowercase hex> digest"));
  }
  absl::StatusOr<std::string> actual = Sha256File(path);
  if (!actual.ok()) return actual.status();
  if (*actual != digest) {
    return absl::FailedPreconditionError(absl::StrCat(
        path, ": content does not match its digest: expected ", digest, ", got ", *actual));
  }
  return absl::OkStatus();
}

}  // namespace osgv
