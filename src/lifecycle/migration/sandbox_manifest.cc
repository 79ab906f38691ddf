// The archive's manifest (osgv-sandbox.json) as JSON: what
// SandboxManifestToJson writes and SandboxManifestFromJson accepts.
#include "lifecycle/migration/sandbox_manifest.h"

#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lifecycle/checkpoint/checkpoint_json.h"
#include "lifecycle/image/digest.h"
#include "lifecycle/image/layer_paths.h"
#include "lifecycle/migration/archive_entries.h"
#include "lifecycle/sandbox_status.h"

namespace osgv {
namespace {

using json = nlohmann::json;

constexpr char kFormatName[] = "openshell-driver-gvisor/sandbox-archive";

// A checkpoint file name as it may appear under checkpoint/: one plain
// path component (runsc writes checkpoint.img, pages.img, ...).
bool IsPlainFileName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos && name != kCheckpointManifestName;
}

// A carried file's path relative to the sandbox dir: plain components, and
// never one of the parts the archive has its own entries for.
absl::StatusOr<std::vector<std::string>> CarriedComponents(const std::string& rel) {
  auto comps = layer::SplitEntryName(rel);
  if (!comps.ok() || comps->empty() || (*comps)[0] == kUpperEntry || (*comps)[0] == "bundle" ||
      (*comps)[0] == "work") {
    return absl::InvalidArgumentError(absl::StrCat("bad carried file '", rel, "'"));
  }
  return *comps;
}

}  // namespace

std::string SandboxManifestToJson(const SandboxArchiveManifest& m) {
  const SandboxRecord& r = m.record;
  json record = {{"id", r.id},
                 {"name", r.name},
                 {"namespace", r.namespace_name},
                 {"workspace", r.workspace},
                 {"phase", PhaseName(r.phase)},
                 {"reason", r.reason},
                 {"message", r.message},
                 {"exit_code", r.exit_code ? json(*r.exit_code) : json(nullptr)},
                 {"created_at_ms", r.created_at_ms},
                 {"updated_at_ms", r.updated_at_ms},
                 {"generation", r.generation}};
  json j = {{"format", kFormatName},
            {"format_version", m.format_version},
            {"driver_version", m.driver_version},
            {"exported_at_ms", m.exported_at_ms},
            {"record", record},
            {"spec_json", r.spec_json},
            {"image", {{"ref", r.image_ref}, {"digest", r.image_digest}}},
            {"checkpoint", m.checkpoint ? CheckpointFieldsToJson(*m.checkpoint) : json(nullptr)},
            {"bundle_config_digest", m.bundle_config_digest},
            {"files", m.carried_files}};
  return j.dump(2);
}

namespace {

// The manifest's integer fields may not hold a float: nlohmann converts one
// to an integer with a plain cast, undefined for 1e300 (found by fuzzing).
absl::Status CheckNoFloats(const json& object, std::initializer_list<const char*> keys) {
  if (!object.is_object()) return absl::OkStatus();  // at() and value() refuse it
  for (const char* key : keys) {
    auto it = object.find(key);
    if (it != object.end() && it->is_number_float()) {
      return absl::InvalidArgumentError(
          absl::StrCat(kSandboxArchiveManifestName, ": ", key, " must be an integer"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SandboxArchiveManifest> SandboxManifestFromJson(const std::string& text) {
  auto j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(kSandboxArchiveManifestName, " is not a JSON object"));
  }
  // Checked before the try below; j.value would throw on a non-string.
  const auto format = j.find("format");
  if (format == j.end() || !format->is_string() || *format != kFormatName) {
    return absl::InvalidArgumentError(absl::StrCat(
        kSandboxArchiveManifestName, " is not an openshell-driver-gvisor sandbox manifest"));
  }
  SandboxArchiveManifest m;
  try {
    for (const absl::Status& st :
         {CheckNoFloats(j, {"format_version", "exported_at_ms"}),
          CheckNoFloats(j.value("record", json()),
                        {"exit_code", "created_at_ms", "updated_at_ms", "generation"}),
          CheckNoFloats(j.value("checkpoint", json()),
                        {"bytes", "created_at_ms", "duration_ms"})}) {
      if (!st.ok()) return st;
    }
    m.format_version = j.at("format_version").get<int>();
    if (m.format_version < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("sandbox archive format version ", m.format_version, " is not valid"));
    }
    if (m.format_version > kSandboxArchiveFormatVersion) {
      return absl::FailedPreconditionError(absl::StrCat(
          "sandbox archive format version ", m.format_version,
          " is newer than this driver reads (up to ", kSandboxArchiveFormatVersion,
          "); import it with openshell-driver-gvisor ", j.value("driver_version", "(unknown)"),
          " or newer"));
    }
    m.driver_version = j.value("driver_version", "");
    m.exported_at_ms = j.value("exported_at_ms", int64_t{0});
    const json& rec = j.at("record");
    SandboxRecord& r = m.record;
    r.id = rec.at("id").get<std::string>();
    r.name = rec.at("name").get<std::string>();
    r.namespace_name = rec.value("namespace", "");
    r.workspace = rec.value("workspace", "");
    r.phase = PhaseOrUnknown(rec.at("phase").get<std::string>());
    r.reason = rec.value("reason", "");
    r.message = rec.value("message", "");
    if (rec.contains("exit_code") && !rec["exit_code"].is_null()) {
      r.exit_code = rec["exit_code"].get<int>();
    }
    r.created_at_ms = rec.value("created_at_ms", int64_t{0});
    r.updated_at_ms = rec.value("updated_at_ms", int64_t{0});
    r.generation = rec.value("generation", int64_t{0});
    r.spec_json = j.at("spec_json").get<std::string>();
    r.image_ref = j.at("image").at("ref").get<std::string>();
    r.image_digest = j.at("image").value("digest", "");
    if (j.contains("checkpoint") && !j["checkpoint"].is_null()) {
      m.checkpoint = CheckpointFieldsFromJson(j["checkpoint"]);
    }
    m.bundle_config_digest = j.value("bundle_config_digest", "");
    if (j.contains("files")) m.carried_files = j["files"].get<std::vector<std::string>>();
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(kSandboxArchiveManifestName, ": ", e.what()));
  }
  const SandboxRecord& r = m.record;
  if (r.id.empty() || r.name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(kSandboxArchiveManifestName, ": the sandbox has no id or name"));
  }
  if (r.phase != phase::kStopped) {
    return absl::InvalidArgumentError(absl::StrCat(
        kSandboxArchiveManifestName, ": sandbox '", r.id, "' was archived in phase ",
        PhaseName(r.phase), "; only stopped sandboxes are"));
  }
  if (m.checkpoint) {
    if (m.checkpoint->files.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(kSandboxArchiveManifestName, ": the checkpoint lists no files"));
    }
    for (const auto& [file, digest] : m.checkpoint->files) {
      if (!IsPlainFileName(file) || !IsSha256Digest(digest)) {
        return absl::InvalidArgumentError(absl::StrCat(
            kSandboxArchiveManifestName, ": bad checkpoint file entry '", file, "'"));
      }
    }
  }
  for (const auto& rel : m.carried_files) {
    auto comps = CarriedComponents(rel);
    if (!comps.ok() || absl::StrJoin(*comps, "/") != rel) {
      return absl::InvalidArgumentError(
          absl::StrCat(kSandboxArchiveManifestName, ": bad carried file '", rel, "'"));
    }
  }
  if (!m.bundle_config_digest.empty() && !IsSha256Digest(m.bundle_config_digest)) {
    return absl::InvalidArgumentError(
        absl::StrCat(kSandboxArchiveManifestName, ": bad bundle_config_digest"));
  }
  return m;
}

}  // namespace osgv
