// One message re-encoded as another with the same wire form: the Ryno
// contract is OpenShell's v0.1.2 contract under other names
// (gateway-contract-v01.md §2.3: every field parses intact), so its
// requests are served by the OpenShell implementation through bytes.
#pragma once

#include <google/protobuf/message.h>

#include <string>

namespace osgv {

// Fields `to` does not declare (the v0.0.x timestamps, when answering a
// Ryno gateway) are dropped rather than carried as unknown fields.
inline bool Recode(const google::protobuf::Message& from, google::protobuf::Message* to) {
  std::string bytes;
  if (!from.SerializeToString(&bytes) || !to->ParseFromString(bytes)) return false;
  to->DiscardUnknownFields();
  return true;
}

}  // namespace osgv
