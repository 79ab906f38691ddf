// `openshell-driver-gvisor images list | pull REF | rm REF | gc`: the
// operator's view of the image store (lifecycle/image/image_inventory.h).
// Safe beside a serving driver: the store is locked the way pulls lock it,
// and the sandbox records are read from SQLite in WAL mode.
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "capabilities/image_reference.h"
#include "cli/cli_args.h"
#include "cli/command_errors.h"
#include "cli/commands.h"
#include "cli/driver_config.h"
#include "lifecycle/image/image_inventory.h"
#include "lifecycle/image/image_store.h"
#include "lifecycle/image/skopeo.h"
#include "lifecycle/state_layout.h"
#include "lifecycle/store/state_store.h"
#include "lifecycle/wall_clock.h"

namespace osgv {
namespace {

constexpr char kUsage[] =
    "usage: images list|pull REF|rm REF|gc [--state-dir DIR] [--config FILE] [--json] "
    "[--grace DURATION]";

int Usage(const std::string& problem) { return UsageError("images", problem, kUsage); }
int Failed(const absl::Status& st) { return CommandFailed("images", st); }

std::string Mib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return buf;
}

std::string When(int64_t ms) {
  if (ms == 0) return "-";
  std::time_t t = ms / 1000;
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", std::localtime(&t));
  return buf;
}

// Sandboxes per manifest digest, running or stopped. A sandbox still being
// created has no digest yet; it counts for the image its reference names.
absl::StatusOr<std::map<std::string, int>> UsersByDigest(const StateLayout& layout,
                                                         const std::vector<StoredImage>& images) {
  std::map<std::string, int> users;
  if (!std::filesystem::exists(layout.database())) return users;
  auto store = StateStore::Open(layout.database());
  if (!store.ok()) return store.status();
  auto records = (*store)->List();
  if (!records.ok()) return records.status();
  for (const SandboxRecord& r : *records) {
    if (!r.image_digest.empty()) {
      users[r.image_digest]++;
      continue;
    }
    auto ref = ParseImageReference(r.image_ref);
    for (const StoredImage& image : images) {
      for (const std::string& name : image.references) {
        if (ref.ok() && name == ref->Canonical()) users[image.digest]++;
      }
    }
  }
  return users;
}

// What list, rm and gc all start from: the stored images and their users.
struct ImageUse {
  std::vector<StoredImage> images;
  std::map<std::string, int> users;  // sandboxes per manifest digest

  std::set<std::string> DigestsInUse() const {
    std::set<std::string> out;
    for (const auto& [digest, n] : users) out.insert(digest);
    return out;
  }
};

absl::StatusOr<ImageUse> LoadImageUse(const StateLayout& layout) {
  auto images = ListStoredImages(layout.images());
  if (!images.ok()) return images.status();
  auto users = UsersByDigest(layout, *images);
  if (!users.ok()) return users.status();
  return ImageUse{*std::move(images), *std::move(users)};
}

int List(const StateLayout& layout, bool as_json) {
  auto use = LoadImageUse(layout);
  if (!use.ok()) return Failed(use.status());
  const std::vector<StoredImage>& images = use->images;
  const std::map<std::string, int>& users = use->users;
  if (as_json) {
    nlohmann::json out = nlohmann::json::array();
    for (const StoredImage& i : images) {
      out.push_back({{"references", i.references},
                     {"digest", i.digest},
                     {"size_bytes", i.size_bytes},
                     {"unpacked", i.unpacked},
                     {"last_used_ms", i.last_used_ms},
                     {"used_by", users.count(i.digest) ? users.at(i.digest) : 0}});
    }
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::printf("%-50s %-19s %10s %-8s %-19s %s\n", "REFERENCE", "DIGEST", "SIZE", "UNPACKED",
              "LAST USED", "USED BY");
  for (const StoredImage& i : images) {
    std::string refs = i.references.empty() ? "(oci layout)" : absl::StrJoin(i.references, ",");
    std::printf("%-50s %-19s %10s %-8s %-19s %d\n", refs.c_str(), i.digest.substr(0, 19).c_str(),
                Mib(i.size_bytes).c_str(), i.unpacked ? "yes" : "no", When(i.last_used_ms).c_str(),
                users.count(i.digest) ? users.at(i.digest) : 0);
  }
  return 0;
}

int Pull(const Config& config, const StateLayout& layout, const std::string& reference,
         bool as_json) {
  ProcessRunner runner;
  Skopeo skopeo(&runner, SkopeoOptionsFromConfig(config.images));
  ImageStore store(layout.images(), &skopeo);
  PrepareOptions options;
  options.pull_policy = PullPolicy::kAlways;  // an operator's pull asks the registry
  auto image = store.Prepare(reference, {}, options);
  if (!image.ok()) return Failed(image.status());
  if (as_json) {
    std::cout << nlohmann::json{{"reference", reference}, {"digest", image->manifest_digest}}.dump()
              << "\n";
  } else {
    std::cout << reference << " " << image->manifest_digest << "\n";
  }
  return 0;
}

void PrintResult(const GcResult& r, bool as_json) {
  if (as_json) {
    std::cout << nlohmann::json{{"removed_digests", r.removed_digests},
                                {"blobs_removed", r.blobs_removed},
                                {"bytes_freed", r.bytes_freed}}
                     .dump()
              << "\n";
    return;
  }
  for (const std::string& d : r.removed_digests) std::cout << "removed " << d << "\n";
  std::cout << r.removed_digests.size() << " image(s), " << r.blobs_removed << " blob(s), "
            << Mib(r.bytes_freed) << " freed\n";
}

int Remove(const StateLayout& layout, const std::string& reference, bool as_json) {
  auto ref = ParseImageReference(reference);
  if (!ref.ok()) return Failed(ref.status());
  if (!ref->is_registry()) {
    return Failed(absl::InvalidArgumentError("only pulled registry images can be removed; "
                                             "unused oci: images go with `images gc`"));
  }
  auto use = LoadImageUse(layout);
  if (!use.ok()) return Failed(use.status());
  auto result = RemoveStoredImage(layout.images(), ref->Canonical(), use->DigestsInUse());
  if (!result.ok()) return Failed(result.status());
  PrintResult(*result, as_json);
  return 0;
}

int Gc(const StateLayout& layout, std::chrono::milliseconds grace, bool as_json) {
  auto use = LoadImageUse(layout);
  if (!use.ok()) return Failed(use.status());
  GcOptions options;
  options.digests_in_use = use->DigestsInUse();
  options.grace = grace;
  options.now_ms = UnixNowMs();
  auto result = CollectGarbage(layout.images(), options);
  if (!result.ok()) return Failed(result.status());
  PrintResult(*result, as_json);
  return 0;
}

}  // namespace

int ImagesCommand(const std::vector<std::string>& argv) {
  auto args = ParseArgs(argv, {"state-dir", "config", "grace"}, {"json"});
  if (!args.ok()) return Usage(std::string(args.status().message()));
  if (args->positional.empty()) return Usage("needs a subcommand");
  auto config = ConfigFromArgs(*args);
  if (!config.ok()) return Usage(std::string(config.status().message()));
  spdlog::set_level(spdlog::level::warn);  // the output is the table
  StateLayout layout{config->state_dir};
  const std::string& sub = args->positional[0];
  const bool as_json = args->Has("json");
  const size_t n = args->positional.size();
  if (sub == "list" && n == 1) return List(layout, as_json);
  if (sub == "pull" && n == 2) return Pull(*config, layout, args->positional[1], as_json);
  if (sub == "rm" && n == 2) return Remove(layout, args->positional[1], as_json);
  if (sub == "gc" && n == 1) {
    // Long enough for a sandbox being created to record its digest.
    std::chrono::milliseconds grace = std::chrono::minutes(10);
    if (auto g = args->Get("grace")) {
      auto parsed = ParseDuration(*g);
      if (!parsed.ok() && *g != "0") return Usage(std::string(parsed.status().message()));
      grace = parsed.ok() ? *parsed : std::chrono::milliseconds(0);
    }
    return Gc(layout, grace, as_json);
  }
  return Usage("unknown subcommand or wrong arguments: " + absl::StrJoin(args->positional, " "));
}

}  // namespace osgv
