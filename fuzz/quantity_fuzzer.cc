// Kubernetes quantities over arbitrary text. Invariants: a parsed value
// re-renders as "<millis>m" and parses back to itself; CPU and memory agree
// with the milli-unit value (memory rounded up, never to zero); a refusal is
// INVALID_ARGUMENT with a bounded message.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "capabilities/quantity.h"
#include "fuzz_check.h"

using osgv::fuzz::Require;

namespace {

std::string ToString(__int128 v) {
  if (v == 0) return "0";
  const bool negative = v < 0;
  std::string digits;
  for (; v != 0; v /= 10) digits.insert(digits.begin(), static_cast<char>('0' + (negative ? -(v % 10) : v % 10)));
  return negative ? "-" + digits : digits;
}

void RequireRefusal(const absl::Status& status, const std::string& text) {
  Require(absl::IsInvalidArgument(status), "refusal is INVALID_ARGUMENT", text);
  // Two quoted values (the text and its suffix), each at most 64 bytes
  // escaped to at most 4 characters apiece, and the fixed explanation.
  osgv::fuzz::RequireSafeMessage(status, 1024);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto millis = osgv::ParseQuantityMillis(text);
  auto cpu = osgv::ParseCpuMillis(text);
  auto memory = osgv::ParseMemoryBytes(text);
  if (!millis.ok()) {
    RequireRefusal(millis.status(), text);
    Require(!cpu.ok() && !memory.ok(), "cpu and memory refuse what millis refuses", text);
    RequireRefusal(cpu.status(), text);
    RequireRefusal(memory.status(), text);
    return 0;
  }
  const std::string rendered = ToString(*millis) + "m";
  auto again = osgv::ParseQuantityMillis(rendered);
  Require(again.ok() && *again == *millis, "<millis>m round-trips", text + " -> " + rendered);

  if (*millis <= 0) {
    Require(!cpu.ok() && !memory.ok(), "zero and negative are refused", text);
    RequireRefusal(cpu.status(), text);
    RequireRefusal(memory.status(), text);
    return 0;
  }
  if (cpu.ok()) {
    Require(static_cast<__int128>(*cpu) == *millis, "cpu millis equal the quantity", text);
  } else {
    Require(*millis > INT64_MAX, "cpu refuses only what does not fit", text);
    RequireRefusal(cpu.status(), text);
  }
  Require(memory.ok(), "a positive quantity is a memory size", text);
  Require(*memory >= 1, "memory never rounds to zero", text);
  Require(static_cast<__int128>(*memory) * 1000 >= *millis &&
              static_cast<__int128>(*memory - 1) * 1000 < *millis,
          "memory is the quantity rounded up to whole bytes", text);
  auto bytes_again = osgv::ParseMemoryBytes(absl::StrCat(*memory));
  Require(bytes_again.ok() && *bytes_again == *memory, "memory bytes round-trip", text);
  return 0;
}
