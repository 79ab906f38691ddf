#include "lifecycle/migration/portable_bundle.h"

#include <functional>
#include <nlohmann/json.hpp>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "lifecycle/migration/archived_record_check.h"
#include "lifecycle/state_layout.h"

namespace osgv {
namespace {

using json = nlohmann::json;

// Applies `fn` to every string value (not key) in `j`.
void ForEachString(json& j, const std::function<void(std::string&)>& fn) {
  if (j.is_string()) {
    std::string v = j.get<std::string>();
    fn(v);
    j = v;
  } else if (j.is_array() || j.is_object()) {
    for (auto& child : j) ForEachString(child, fn);
  }
}

}  // namespace

absl::StatusOr<PortableBundle> MakePortable(const std::string& config, const std::string& rid) {
  auto spec = json::parse(config, nullptr, false);
  if (spec.is_discarded() || !spec.is_object()) {
    return absl::FailedPreconditionError("its bundle/config.json is not JSON");
  }
  // The sandbox dir as the driver spelled it: "<any state dir>/sandboxes/<rid>".
  const std::string marker = StateLayout{""}.sandbox_dir(rid);
  auto split = [&](const std::string& s, std::string* rel) {
    size_t p = s.find(marker);
    if (p == std::string::npos) return false;
    size_t end = p + marker.size();
    if (end != s.size() && s[end] != '/') return false;
    *rel = end == s.size() ? "" : s.substr(end + 1);
    return true;
  };
  PortableBundle out;
  std::set<std::string> carried;
  if (spec.contains("mounts") && spec["mounts"].is_array()) {
    for (const auto& m : spec["mounts"]) {
      if (!m.is_object()) continue;
      std::string src = m.value("source", "");
      std::string rel;
      if (split(src, &rel) && rel == CarriedTokenFile()) {
        carried.insert(rel);
      } else if (src.find(rid) != std::string::npos) {
        out.warnings.push_back(absl::StrCat(
            "bind mount source ", src, " belongs to this host and does not travel; the "
            "importing driver must recreate it"));
      }
    }
  }
  ForEachString(spec, [&](std::string& v) {
    std::string rel;
    if (split(v, &rel)) v = rel.empty() ? kSandboxDirVar : absl::StrCat(kSandboxDirVar, "/", rel);
    v = absl::StrReplaceAll(v, {{rid, kRunscIdVar}});
  });
  out.text = spec.dump(2);
  out.carried.assign(carried.begin(), carried.end());
  return out;
}

}  // namespace osgv
