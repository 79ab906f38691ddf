#include "lifecycle/random_hex.h"

#include <openssl/err.h>
#include <openssl/rand.h>

#include <climits>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace osgv {

absl::StatusOr<std::string> RandomHex(size_t bytes) {
  if (bytes > INT_MAX / 2) return absl::InvalidArgumentError("random: too many bytes asked for");
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    char why[256];
    ERR_error_string_n(ERR_get_error(), why, sizeof why);
    return absl::InternalError(absl::StrCat("random: the CSPRNG failed (RAND_bytes): ", why));
  }
  return absl::BytesToHexString(raw);
}

}  // namespace osgv
