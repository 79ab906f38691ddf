// The gateway's W3C trace id for the call being served, carried in a
// thread-local so that every log line written on its behalf (including by
// background work it started) names it, and operators can join our log
// with the gateway's (gateway-contract.md §11).
#pragma once

#include <string>

namespace osgv {

// "" when the current work was not started by a traced call.
const std::string& CurrentTraceId();

// Sets the trace id for the current thread until destroyed.
class ScopedTraceId {
 public:
  explicit ScopedTraceId(std::string trace_id);
  ~ScopedTraceId();
  ScopedTraceId(const ScopedTraceId&) = delete;
  ScopedTraceId& operator=(const ScopedTraceId&) = delete;

 private:
  std::string previous_;
};

// The trace id of a `traceparent` header ("00-<32 hex>-<16 hex>-<2 hex>"),
// or "" when the header is malformed or the id is all zeros.
std::string TraceIdFromTraceparent(const std::string& traceparent);

}  // namespace osgv
