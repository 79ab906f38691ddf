// Verifying a memory image while `runsc restore` reads it, without letting
// anything restored from a corrupted image run.
//
// Hashing a large image before the restore costs as much again as a third
// of the restore itself (docs/benchmarks.md). Overlapping the two is only
// safe if runsc cannot finish before the verdict, and runsc has no "restore
// paused" (runsc help restore: no such flag; pausing after the restore is
// too late). What it has is this order (gVisor release-20240729,
// runsc/boot/restore.go and pkg/sentry/kernel/kernel.go): the sentry reads
// pages_meta.img as a stream, interleaved with scheduling the reads of
// pages.img, reads its very last value only after every page read is
// queued, then waits for those reads, and only after all of that starts
// the restored tasks.
//
// So the gate hands runsc a directory of its own, whose checkpoint.img and
// pages.img are links to the image and whose pages_meta.img is a FIFO. The
// driver writes the metadata into the FIFO, all but its last byte, while
// the image's other files are hashed on a thread; the last byte follows
// only once they match. On a mismatch the FIFO is closed without it: the
// sentry's read ends short ("unexpected EOF"), `runsc restore` fails, and
// the restored tasks never started. The metadata itself is checked before
// the first byte goes out, from the very bytes that are written.
//
// This depends on how runsc reads the image. The live test "Start: a
// restore does not finish before its image is verified" (checkpoint_test)
// proves it for the installed runsc, and Start still checks the verdict
// before it reports the sandbox running, so a runsc that read differently
// could at worst run restored code briefly, never report it Ready.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lifecycle/checkpoint/checkpoint_image.h"

namespace osgv {

// The files runsc reads (runsc/boot: CheckpointStateFileName, ...).
inline constexpr char kImageStateFile[] = "checkpoint.img";
inline constexpr char kImagePagesMetaFile[] = "pages_meta.img";
inline constexpr char kImagePagesFile[] = "pages.img";

class RestoreGate {
 public:
  // Checks the image's files other than pages_meta.img; the default hashes
  // them against the record (VerifyCheckpointFile). Tests inject their own
  // to hold the verdict back.
  using Verifier = std::function<absl::Status(const CheckpointImage&)>;

  // Whether `image` can be restored through a gate: runsc reads its memory
  // from pages.img with pages_meta.img. A flate image is one
  // checkpoint.img, which runsc must be able to stat; that one is verified
  // before its restore.
  static bool Applies(const CheckpointImage& image);

  // Makes `view_dir` (replacing any earlier one), checks pages_meta.img
  // against the record, starts feeding it and verifying the rest.
  // DATA_LOSS when pages_meta.img is missing or does not match (nothing
  // may be restored); INTERNAL when the directory or FIFO cannot be made
  // (the caller may still verify first and restore from the image).
  static absl::StatusOr<std::unique_ptr<RestoreGate>> Open(const CheckpointImage& image,
                                                           const std::string& view_dir,
                                                           Verifier verify = nullptr);

  // Aborts (if not released), waits for its threads, removes the view.
  ~RestoreGate();
  RestoreGate(const RestoreGate&) = delete;
  RestoreGate& operator=(const RestoreGate&) = delete;

  // The directory to give `runsc restore --image-path`.
  const std::string& dir() const { return dir_; }

  // The verdict on the whole image; waits for the verification.
  absl::Status Wait();

  // Whether the last byte went out (the verdict was OK and was delivered).
  bool released() const { return released_.load(); }

  // Never releases from now on and closes the FIFO, so a `runsc restore`
  // still reading sees its end. Then Wait() to learn the verdict.
  void Abort();

  // How long verifying the other files took (after Wait).
  double verify_ms() const { return verify_ms_; }

  // For a driver that restarts after it died holding a gate: its FIFO lost
  // its writer, and a `runsc restore` that opens it after that would wait
  // in open() for one until its monitor's timeout. This wakes such a runsc
  // with the end of the stream, so its restore fails at once, and removes
  // the view. Nothing in it was released unverified: a last byte written
  // before the crash was verified.
  static void Abandon(const std::string& view_dir);

 private:
  RestoreGate(CheckpointImage image, std::string dir, int fifo, int cancel_read,
              int cancel_write, std::string meta);
  void Start(Verifier verify);
  void Feed();
  // All of `data` into the FIFO, unless aborted first.
  bool WriteToFifo(const char* data, size_t size);
  // Removes what runsc opens by name, so one that has not yet fails.
  static void Unlink(const std::string& view_dir);

  const CheckpointImage image_;
  const std::string dir_;
  int fifo_;          // the driver's end, O_RDWR | O_NONBLOCK
  int cancel_read_;   // readable once Abort() was called
  int cancel_write_;
  const std::string meta_;  // the whole of pages_meta.img, as checked
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<absl::Status> verdict_;  // guarded by mu_
  bool aborted_ = false;                 // guarded by mu_
  std::atomic<bool> released_{false};
  double verify_ms_ = 0;
  std::thread verifier_;
  std::thread feeder_;
};

}  // namespace osgv
