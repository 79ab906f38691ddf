#include "lifecycle/checkpoint/checkpoint_image.h"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lifecycle/checkpoint/checkpoint_json.h"
#include "lifecycle/checkpoint/image_file_hash.h"
#include "lifecycle/fs_util.h"

namespace osgv {
namespace fs = std::filesystem;

namespace {

absl::Status FsyncFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat("open ", path, ": ", strerror(errno)));
  int r = fsync(fd);
  close(fd);
  if (r != 0) return absl::InternalError(absl::StrCat("fsync ", path, ": ", strerror(errno)));
  return absl::OkStatus();
}

// fsyncs every path at once, one thread each: the file system can commit
// them together (ext4 joins concurrent fsyncs into one journal commit)
// where one after the other would wait for a commit each.
absl::Status FsyncAll(const std::vector<std::string>& paths) {
  std::vector<absl::Status> results(paths.size());
  std::vector<std::thread> threads;
  for (size_t i = 1; i < paths.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = FsyncFile(paths[i]); });
  }
  if (!paths.empty()) results[0] = FsyncFile(paths[0]);
  for (auto& t : threads) t.join();
  for (const auto& st : results) {
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

}  // namespace

std::string CheckpointToJson(const CheckpointImage& i) {
  nlohmann::json j = CheckpointFieldsToJson(i);
  j["dir"] = i.dir;
  if (!i.fast_checks.empty()) j["fast_checks"] = i.fast_checks;
  return j.dump();
}

absl::StatusOr<CheckpointImage> CheckpointFromJson(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return absl::DataLossError("checkpoint record is not JSON");
  try {
    std::string dir = j.at("dir").get<std::string>();
    CheckpointImage i = CheckpointFieldsFromJson(j);
    i.dir = dir;
    // Absent from records written before FastCheck: SHA-256 then.
    i.fast_checks = j.value("fast_checks", std::map<std::string, std::string>{});
    return i;
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(absl::StrCat("checkpoint record: ", e.what()));
  }
}

absl::StatusOr<CheckpointImage> SealCheckpoint(const std::string& tmp_dir,
                                               const std::string& final_dir,
                                               CheckpointImage image) {
  image.files.clear();
  image.fast_checks.clear();
  image.bytes = 0;
  std::vector<std::pair<std::string, std::string>> files;  // name, path
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(tmp_dir, ec)) {
    if (!entry.is_regular_file()) continue;
    files.emplace_back(entry.path().filename().string(), entry.path().string());
    image.bytes += entry.file_size();
  }
  if (ec) return absl::InternalError(absl::StrCat("list ", tmp_dir, ": ", ec.message()));
  if (files.empty()) {
    return absl::InternalError(absl::StrCat("runsc wrote no image files into ", tmp_dir));
  }
  // The files' fsyncs (the write-back of whatever runsc left in the page
  // cache) run while they are hashed: a large image costs the longer of
  // the two, not their sum.
  std::vector<std::string> to_sync;
  for (const auto& [name, path] : files) to_sync.push_back(path);
  auto synced = std::async(std::launch::async, [&to_sync] { return FsyncAll(to_sync); });
  absl::Status hashed;
  for (const auto& [name, path] : files) {
    auto digests = DigestImageFile(path);
    if (!digests.ok()) {
      hashed = digests.status();
      break;
    }
    image.files[name] = digests->sha256;
    image.fast_checks[name] = digests->fast;
  }
  if (auto s = synced.get(); !s.ok()) return s;
  if (!hashed.ok()) return hashed;
  image.dir = final_dir;
  // Written in place: the directory is not published until its rename.
  std::string manifest = tmp_dir + "/" + kCheckpointManifestName;
  if (auto s = WriteFileReplace(manifest, CheckpointToJson(image), 0600); !s.ok()) return s;
  // The directory for its entries: all durable before the rename.
  if (auto s = FsyncAll({manifest, tmp_dir}); !s.ok()) return s;
  // Replace an older image: move it aside first, so there is never a
  // moment with a half-replaced directory at final_dir.
  std::string old = final_dir + ".old";
  if (fs::exists(final_dir)) {
    if (auto s = RemoveTree(old); !s.ok()) return s;
    fs::rename(final_dir, old, ec);
    if (ec) return absl::InternalError(absl::StrCat("rename ", final_dir, ": ", ec.message()));
  }
  fs::rename(tmp_dir, final_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("rename ", tmp_dir, ": ", ec.message()));
  if (auto s = FsyncDir(fs::path(final_dir).parent_path().string()); !s.ok()) return s;
  RemoveTree(old).IgnoreError();
  return image;
}

absl::StatusOr<CheckpointImage> ReadManifest(const std::string& final_dir) {
  auto text = ReadFile(final_dir + "/" + kCheckpointManifestName);
  if (!text.ok()) return text.status();
  return CheckpointFromJson(*text);
}

absl::Status VerifyCheckpoint(const CheckpointImage& image) {
  if (image.files.empty()) return absl::DataLossError("checkpoint has no files");
  for (const auto& [name, digest] : image.files) {
    if (auto st = VerifyCheckpointFile(image, name); !st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::Status VerifyCheckpointFile(const CheckpointImage& image, const std::string& name) {
  std::string path = image.dir + "/" + name;
  auto recorded = image.files.find(name);
  if (recorded == image.files.end() || !fs::exists(path)) {
    return absl::DataLossError(absl::StrCat("checkpoint file ", path, " is missing"));
  }
  auto fast = image.fast_checks.find(name);
  const bool use_fast = fast != image.fast_checks.end();
  auto actual = use_fast ? FastCheckImageFile(path) : Sha256ImageFile(path);
  if (!actual.ok() || *actual != (use_fast ? fast->second : recorded->second)) {
    return absl::DataLossError(
        absl::StrCat("checkpoint file ", path, " does not match its recorded digest"));
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> FreeBytes(const std::string& dir) {
  struct statvfs st;
  if (statvfs(dir.c_str(), &st) != 0) {
    return absl::InternalError(absl::StrCat("statvfs ", dir, ": ", strerror(errno)));
  }
  return static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
}

std::string ChooseCompression(const std::string& configured, uint64_t none_above_bytes,
                              uint64_t memory_bytes) {
  if (configured == "flate" || configured == "none") return configured;
  return memory_bytes > none_above_bytes ? "none" : "flate";
}

}  // namespace osgv
