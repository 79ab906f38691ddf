// Small gRPC and protobuf helpers shared by the three contract clients; independent of
// any generated code.
#pragma once

#include <google/protobuf/message.h>
#include <google/protobuf/unknown_field_set.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace osgv::contract {

inline void SetDeadline(grpc::ClientContext* ctx, absl::Duration d) {
  ctx->set_deadline(std::chrono::system_clock::now() + absl::ToChronoSeconds(d));
}

// gRPC and Abseil number their codes alike.
inline absl::StatusCode CodeOf(const grpc::Status& st) {
  return static_cast<absl::StatusCode>(st.error_code());
}

inline std::string Describe(const grpc::Status& st) {
  std::string code = absl::StatusCodeToString(CodeOf(st));
  return st.error_message().empty() ? code : absl::StrCat(code, ": ", st.error_message());
}

// `rpc` failed: its code and message, for the step's failure message.
inline absl::Status RpcFailed(const std::string& rpc, const grpc::Status& st) {
  return absl::Status(CodeOf(st), absl::StrCat(rpc, " failed: ", Describe(st)));
}

// A request the driver must refuse with `want`.
inline absl::Status ExpectRefused(const std::string& what, const grpc::Status& st,
                                  absl::StatusCode want) {
  if (CodeOf(st) == want) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      what, ": want ", absl::StatusCodeToString(want), ", got ",
      st.ok() ? std::string("OK") : Describe(st)));
}

// Whether `m` carries field `number` that its own generation does not know:
// the other generation's timestamp, which this one silently drops.
inline bool HasUnknownField(const google::protobuf::Message& m, int number) {
  const auto& unknown = m.GetReflection()->GetUnknownFields(m);
  for (int i = 0; i < unknown.field_count(); ++i) {
    if (unknown.field(i).number() == number) return true;
  }
  return false;
}

}  // namespace osgv::contract
