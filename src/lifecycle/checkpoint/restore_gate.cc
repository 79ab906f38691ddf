#include "lifecycle/checkpoint/restore_gate.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "lifecycle/fs_util.h"
#include "lifecycle/image/digest.h"

namespace osgv {
namespace {

// Far above any real pages_meta.img (a few KiB per GiB of memory): the
// gate holds the whole file in memory to write exactly what it checked.
constexpr size_t kMaxMetaBytes = 64u << 20;

absl::Status Errno(const std::string& what, const std::string& path) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", strerror(errno)));
}

absl::Status VerifyAllButMeta(const CheckpointImage& image) {
  for (const auto& [name, digest] : image.files) {
    if (name == kImagePagesMetaFile) continue;
    if (auto st = VerifyCheckpointFile(image, name); !st.ok()) return st;
  }
  return absl::OkStatus();
}

}  // namespace

bool RestoreGate::Applies(const CheckpointImage& image) {
  return image.files.count(kImageStateFile) > 0 && image.files.count(kImagePagesFile) > 0 &&
         image.files.count(kImagePagesMetaFile) > 0;
}

absl::StatusOr<std::unique_ptr<RestoreGate>> RestoreGate::Open(const CheckpointImage& image,
                                                               const std::string& view_dir,
                                                               Verifier verify) {
  if (!Applies(image)) {
    return absl::InternalError("the image has no pages file to restore through a gate");
  }
  const std::string meta_path = image.dir + "/" + kImagePagesMetaFile;
  struct stat st;
  if (stat(meta_path.c_str(), &st) != 0) {
    return absl::DataLossError(absl::StrCat("checkpoint file ", meta_path, " is missing"));
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxMetaBytes || st.st_size == 0) {
    return absl::InternalError(absl::StrCat(meta_path, " has ", st.st_size,
                                            " bytes, not what a gate can hold"));
  }
  auto meta = ReadFile(meta_path);
  if (!meta.ok()) return meta.status();
  if (Sha256String(*meta) != image.files.at(kImagePagesMetaFile)) {
    return absl::DataLossError(
        absl::StrCat("checkpoint file ", meta_path, " does not match its recorded digest"));
  }

  if (auto s = RemoveTree(view_dir); !s.ok()) return s;
  if (auto s = MakeDirs(view_dir, 0700); !s.ok()) return s;
  for (const auto& [name, digest] : image.files) {
    if (name == kImagePagesMetaFile) continue;
    std::string link = view_dir + "/" + name;
    if (symlink((image.dir + "/" + name).c_str(), link.c_str()) != 0) return Errno("symlink", link);
  }
  const std::string fifo_path = view_dir + "/" + kImagePagesMetaFile;
  if (mkfifo(fifo_path.c_str(), 0600) != 0) return Errno("mkfifo", fifo_path);
  // Read-write: the open cannot block, and runsc's own open finds a writer.
  int fifo = open(fifo_path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fifo < 0) return Errno("open", fifo_path);
  int cancel[2];
  if (pipe2(cancel, O_CLOEXEC | O_NONBLOCK) != 0) {
    close(fifo);
    return Errno("pipe", "for the gate");
  }
  std::unique_ptr<RestoreGate> gate(
      new RestoreGate(image, view_dir, fifo, cancel[0], cancel[1], *std::move(meta)));
  gate->Start(verify ? std::move(verify) : Verifier(VerifyAllButMeta));
  return gate;
}

RestoreGate::RestoreGate(CheckpointImage image, std::string dir, int fifo, int cancel_read,
                         int cancel_write, std::string meta)
    : image_(std::move(image)),
      dir_(std::move(dir)),
      fifo_(fifo),
      cancel_read_(cancel_read),
      cancel_write_(cancel_write),
      meta_(std::move(meta)) {}

void RestoreGate::Start(Verifier verify) {
  verifier_ = std::thread([this, verify = std::move(verify)] {
    auto t0 = std::chrono::steady_clock::now();
    absl::Status st = verify(image_);
    verify_ms_ = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                     .count();
    {
      std::lock_guard<std::mutex> lock(mu_);
      verdict_ = std::move(st);
    }
    cv_.notify_all();
  });
  feeder_ = std::thread([this] { Feed(); });
}

RestoreGate::~RestoreGate() {
  Abort();
  if (feeder_.joinable()) feeder_.join();
  if (verifier_.joinable()) verifier_.join();
  if (fifo_ >= 0) close(fifo_);
  close(cancel_read_);
  close(cancel_write_);
  RemoveTree(dir_).IgnoreError();
}

void RestoreGate::Feed() {
  bool ok = WriteToFifo(meta_.data(), meta_.size() - 1);
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return verdict_.has_value() || aborted_; });
    ok = ok && !aborted_ && verdict_->ok();
  }
  if (ok) {
    // Set first: runsc may finish the moment the byte is there
    // (ConfirmVerified reads it to tell a runsc that did not wait).
    released_ = true;
    // The FIFO stays open until the gate goes: closed now, with runsc not
    // yet there, it would lose what it holds.
    if (WriteToFifo(meta_.data() + meta_.size() - 1, 1)) return;
    released_ = false;
  }
  // Withheld. Unlinked first, so a runsc that has not opened the files yet
  // fails to; closed then, so one that has reads the end of the stream.
  Unlink(dir_);
  close(fifo_);
  fifo_ = -1;
}

void RestoreGate::Unlink(const std::string& view_dir) {
  // The metadata and the state file, not pages.img: runsc opens the state
  // file first, and without pages.img it would take the state file for a
  // whole single-file image instead of failing.
  unlink((view_dir + "/" + kImagePagesMetaFile).c_str());
  unlink((view_dir + "/" + kImageStateFile).c_str());
}

void RestoreGate::Abandon(const std::string& view_dir) {
  const std::string fifo = view_dir + "/" + kImagePagesMetaFile;
  // A writer wakes a runsc waiting in open() for one; one that opens it
  // while this holds it open finds the writer too, and one after the
  // unlink finds nothing. Read-write, so the open itself never blocks.
  int fd = open(fifo.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  Unlink(view_dir);
  if (fd >= 0) close(fd);  // and it reads the end of the stream
  RemoveTree(view_dir).IgnoreError();
}

bool RestoreGate::WriteToFifo(const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = write(fifo_, data, size);
    if (n > 0) {
      data += n;
      size -= static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) return false;
    // Full: runsc reads the metadata as it schedules its page reads.
    pollfd fds[2] = {{fifo_, POLLOUT, 0}, {cancel_read_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0 && errno != EINTR) return false;
    if (fds[1].revents != 0) return false;
  }
  return true;
}

void RestoreGate::Abort() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    aborted_ = true;
  }
  cv_.notify_all();
  char byte = 1;
  (void)!write(cancel_write_, &byte, 1);
}

absl::Status RestoreGate::Wait() {
  if (verifier_.joinable()) verifier_.join();
  std::lock_guard<std::mutex> lock(mu_);
  return *verdict_;
}

}  // namespace osgv
