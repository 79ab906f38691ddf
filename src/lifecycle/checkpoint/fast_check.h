// A fast checksum of a memory image file, for Start to tell a corrupted
// image from an intact one at memory speed.
//
// Start used to re-hash every image file with SHA-256: 0.59 s of CPU per
// GiB on the test VM, as much as a third of the restore itself, and on a
// 2-vCPU host that CPU is taken from the restore running beside it
// (docs/benchmarks.md). What Start checks for is corruption on disk, not a
// forger (who could rewrite the record's digests as well: docs/lifecycle.md),
// so a CRC does: CRC-32C, computed by the CPU's crc32 instruction in three
// independent lanes so the instruction's latency does not bound it (about
// 8 bytes per cycle). The file is read as 8-byte words; word i goes to lane
// i mod 3, the bytes after the last whole 24-byte block to lane 0. The
// result is "crc32c3:" and the three lanes' CRCs in hex: 96 bits, so a
// random corruption goes unnoticed with a chance of 2^-96, and every error
// burst of up to 32 bits within a lane is always caught.
//
// SHA-256 stays the image's digest (seal, manifest, archives); the seal
// computes both in the same pass.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace osgv {

inline constexpr char kFastCheckPrefix[] = "crc32c3:";

class FastCheck {
 public:
  void Update(const void* data, size_t len);
  std::string Finish();  // "crc32c3:<24 lowercase hex>"

 private:
  void Blocks(const unsigned char* p, size_t blocks);
  uint32_t lane_[3] = {0xffffffffu, 0xffffffffu, 0xffffffffu};
  unsigned char pending_[24];
  size_t pending_len_ = 0;
};

std::string FastCheckString(const std::string& data);

}  // namespace osgv
