// Why a Start booted a sandbox cold instead of restoring its memory: the
// bounded reason carried by the ColdStart event's metadata, so a watcher
// (or the metrics in src/metrics) need not parse the human message.
#pragma once

namespace osgv::cold_start {

inline constexpr char kMetadataKey[] = "openshell.gvisor.cold_start_reason";
inline constexpr char kNoCheckpoint[] = "no_checkpoint";  // stopped without memory
inline constexpr char kCheckpointUnusable[] = "checkpoint_unusable";  // failed verification
inline constexpr char kRestoreFailed[] = "restore_failed";  // runsc restore did not work

// `had_checkpoint`: the record named an image; `verified`: it passed
// VerifyCheckpoint (so a restore was attempted and failed).
inline const char* ReasonFor(bool had_checkpoint, bool verified) {
  if (!had_checkpoint) return kNoCheckpoint;
  return verified ? kRestoreFailed : kCheckpointUnusable;
}

}  // namespace osgv::cold_start
