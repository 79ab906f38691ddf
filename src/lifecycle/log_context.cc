#include "lifecycle/log_context.h"

#include <cctype>

namespace osgv {
namespace {
thread_local std::string current_trace_id;

bool IsLowerHex(const std::string& s) {
  for (char c : s) {
    if (!std::isxdigit(static_cast<unsigned char>(c)) || std::isupper(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return true;
}
}  // namespace

const std::string& CurrentTraceId() { return current_trace_id; }

ScopedTraceId::ScopedTraceId(std::string trace_id) : previous_(current_trace_id) {
  current_trace_id = std::move(trace_id);
}

ScopedTraceId::~ScopedTraceId() { current_trace_id = previous_; }

std::string TraceIdFromTraceparent(const std::string& tp) {
  // version "-" trace-id "-" parent-id "-" flags
  if (tp.size() < 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-') return "";
  std::string id = tp.substr(3, 32);
  if (!IsLowerHex(id) || id == std::string(32, '0')) return "";
  return id;
}

}  // namespace osgv
