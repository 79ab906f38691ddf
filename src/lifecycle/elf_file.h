// The few facts the driver reads from an ELF executable it will run inside
// arbitrary images (the supervisor, probe's busybox): such a binary must be
// static, because the image may hold no loader, or the wrong one.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace osgv {

struct ElfFacts {
  bool is_64bit = false;
  bool native_byte_order = false;  // this host's
  // PT_INTERP, "" for a static executable; INVALID_ARGUMENT ("truncated
  // ...") when the headers after e_ident do not parse, so a caller can still
  // judge the class and byte order first.
  absl::StatusOr<std::string> interpreter;
};

// Reads only the ELF header and the program headers. NOT_FOUND when `path`
// cannot be opened; INVALID_ARGUMENT when it is not an ELF file ("... is not
// an ELF executable") or of an unknown class.
absl::StatusOr<ElfFacts> ReadElfFacts(const std::string& path);

// ReadElfFacts(path)->interpreter.
absl::StatusOr<std::string> ElfInterpreter(const std::string& path);

}  // namespace osgv
