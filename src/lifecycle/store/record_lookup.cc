#include "lifecycle/store/record_lookup.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace osgv {

absl::StatusOr<size_t> LookupSandbox(const std::vector<const SandboxRecord*>& records,
                                     const std::string& id, const std::string& name) {
  const bool by_id = !id.empty();
  std::vector<size_t> found;
  for (size_t i = 0; i < records.size(); ++i) {
    if (by_id ? records[i]->id == id : records[i]->name == name) found.push_back(i);
  }
  if (found.size() == 1) return found[0];
  if (found.empty()) {
    return absl::NotFoundError(absl::StrCat("sandbox '", by_id ? id : name, "' not found"));
  }
  std::vector<std::string> ids;
  for (size_t i : found) {
    ids.push_back(absl::StrCat(records[i]->id, " (workspace ", records[i]->workspace, ")"));
  }
  return absl::FailedPreconditionError(
      absl::StrCat("sandbox_name: '", name, "' names ", found.size(),
                   " sandboxes in different workspaces; use the sandbox id: ",
                   absl::StrJoin(ids, ", ")));
}

absl::StatusOr<SandboxRecord> FindRecord(const std::vector<SandboxRecord>& records,
                                         const std::string& id_or_name) {
  std::vector<const SandboxRecord*> all;
  for (const auto& r : records) all.push_back(&r);
  auto i = LookupSandbox(all, id_or_name, "");
  if (absl::IsNotFound(i.status())) i = LookupSandbox(all, "", id_or_name);
  if (!i.ok()) return i.status();
  return records[*i];
}

}  // namespace osgv
