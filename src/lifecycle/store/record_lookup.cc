#include "lifecycle/store/record_lookup.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace osgv {

absl::StatusOr<SandboxRecord> FindRecord(const std::vector<SandboxRecord>& records,
                                         const std::string& key) {
  for (const auto& r : records) {
    if (r.id == key) return r;
  }
  std::vector<const SandboxRecord*> named;
  for (const auto& r : records) {
    if (r.name == key) named.push_back(&r);
  }
  if (named.size() == 1) return *named[0];
  if (named.empty()) return absl::NotFoundError(absl::StrCat("sandbox '", key, "' not found"));
  std::vector<std::string> ids;
  for (const auto* r : named) ids.push_back(absl::StrCat(r->id, " (workspace ", r->workspace, ")"));
  return absl::FailedPreconditionError(absl::StrCat("sandbox name '", key,
                                                    "' is ambiguous; use one of the ids: ",
                                                    absl::StrJoin(ids, ", ")));
}

}  // namespace osgv
