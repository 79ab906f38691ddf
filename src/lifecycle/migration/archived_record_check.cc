#include "lifecycle/migration/archived_record_check.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "capabilities/image_reference.h"
#include "lifecycle/bundle/token_file.h"
#include "lifecycle/image/digest.h"
#include "lifecycle/spec_codec.h"

namespace osgv {
namespace {

using json = nlohmann::json;

absl::Status Invalid(const std::string& field, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
}

// EncodeRequest never writes the token (spec_codec.h); an archive that has
// one is made up, and it must not reach the record (or a log).
absl::Status CheckNoToken(const std::string& spec_json) {
  json j = json::parse(spec_json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Invalid("record.spec", "not a JSON object");
  bool in_template = j.contains("template") && j["template"].is_object() &&
                     j["template"].contains("sandbox_token");
  if (j.contains("sandbox_token") || in_template) {
    return Invalid("record.spec.sandbox_token",
                   "a stored request never holds the sandbox token; an archive carries it only "
                   "as files/" + CarriedTokenFile());
  }
  return absl::OkStatus();
}

absl::Status CheckSameSandbox(const SandboxRequest& q, const SandboxRecord& r) {
  struct Field {
    const char* name;
    const std::string& in_spec;
    const std::string& in_record;
  };
  for (const Field& f : {Field{"id", q.id, r.id}, Field{"name", q.name, r.name},
                         Field{"workspace", q.workspace, r.workspace},
                         Field{"namespace", q.namespace_name, r.namespace_name}}) {
    if (f.in_spec != f.in_record) {
      return Invalid(absl::StrCat("record.spec.", f.name),
                     absl::StrCat("'", f.in_spec, "' is not the record's '", f.in_record,
                                  "': the stored request belongs to another sandbox"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckImage(const SandboxRequest& q, const SandboxRecord& r) {
  if (auto ref = ParseImageReference(r.image_ref); !ref.ok()) {
    return Invalid("record.image_ref", std::string(ref.status().message()));
  }
  if (r.image_ref != q.spec.tmpl.image) {
    return Invalid("record.image_ref",
                   absl::StrCat("'", r.image_ref, "' is not the stored request's image '",
                                q.spec.tmpl.image, "'"));
  }
  if (!r.image_digest.empty() && !IsSha256Digest(r.image_digest)) {
    return Invalid("record.image_digest",
                   absl::StrCat("'", r.image_digest,
                                "' is neither empty nor a sha256:<64 lowercase hex> digest"));
  }
  return absl::OkStatus();
}

}  // namespace

std::string CarriedTokenFile() {
  // TokenFilePath appends to the directory it is given.
  return TokenFilePath("").substr(1);
}

absl::StatusOr<SandboxPlan> CheckArchivedRecord(const SandboxArchiveManifest& m,
                                                const Config& config) {
  const SandboxRecord& r = m.record;
  if (auto st = CheckNoToken(r.spec_json); !st.ok()) return st;
  auto request = DecodeRequest(r.spec_json);
  if (!request.ok()) return Invalid("record.spec", std::string(request.status().message()));
  if (!request->spec.host_mounts.empty()) {
    return Invalid("record.spec.host_mounts",
                   absl::StrCat("the stored request bind-mounts host paths (first: ",
                                request->spec.host_mounts[0].source,
                                "); an archive may not name host paths, since the importing "
                                "host would mount them into the sandbox. Recreate such a "
                                "sandbox on this host with `run --mount` instead"));
  }
  if (auto st = CheckSameSandbox(*request, r); !st.ok()) return st;
  auto plan = PlanSandbox(*request, config);
  if (!plan.ok()) {
    return absl::Status(plan.status().code(),
                        absl::StrCat("record.spec: ", plan.status().message()));
  }
  if (auto st = CheckImage(*request, r); !st.ok()) return st;
  for (const auto& rel : m.carried_files) {
    if (rel != CarriedTokenFile()) {
      return Invalid("files", absl::StrCat("'", rel, "' may not be carried: an archive carries "
                                           "only the sandbox token file (",
                                           CarriedTokenFile(), ")"));
    }
  }
  return plan;
}

}  // namespace osgv
