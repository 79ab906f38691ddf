#include "lifecycle/checkpoint/fast_check.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace osgv {
namespace {

// CRC-32C (Castagnoli, reflected 0x82f63b78), a byte at a time: the
// portable path, and the tail on every path.
uint32_t SoftByte(uint32_t crc, unsigned char b) {
  crc ^= b;
  for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
  return crc;
}

uint32_t SoftWord(uint32_t crc, uint64_t w) {
  for (int k = 0; k < 8; ++k) crc = SoftByte(crc, static_cast<unsigned char>(w >> (8 * k)));
  return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) void HardBlocks(uint32_t lane[3], const unsigned char* p,
                                                  size_t blocks) {
  uint64_t a = lane[0], b = lane[1], c = lane[2];
  for (size_t i = 0; i < blocks; ++i, p += 24) {
    uint64_t w0, w1, w2;
    std::memcpy(&w0, p, 8);
    std::memcpy(&w1, p + 8, 8);
    std::memcpy(&w2, p + 16, 8);
    a = _mm_crc32_u64(a, w0);
    b = _mm_crc32_u64(b, w1);
    c = _mm_crc32_u64(c, w2);
  }
  lane[0] = static_cast<uint32_t>(a);
  lane[1] = static_cast<uint32_t>(b);
  lane[2] = static_cast<uint32_t>(c);
}

const bool kHaveSse42 = __builtin_cpu_supports("sse4.2");
#endif

}  // namespace

void FastCheck::Blocks(const unsigned char* p, size_t blocks) {
#if defined(__x86_64__)
  if (kHaveSse42) {
    HardBlocks(lane_, p, blocks);
    return;
  }
#endif
  for (size_t i = 0; i < blocks; ++i, p += 24) {
    for (int l = 0; l < 3; ++l) {
      uint64_t w;
      std::memcpy(&w, p + 8 * l, 8);  // little-endian, as the crc32 instruction reads it
      lane_[l] = SoftWord(lane_[l], w);
    }
  }
}

void FastCheck::Update(const void* data, size_t len) {
  const auto* p = static_cast<const unsigned char*>(data);
  if (pending_len_ > 0) {
    size_t take = std::min(len, sizeof(pending_) - pending_len_);
    std::memcpy(pending_ + pending_len_, p, take);
    pending_len_ += take;
    p += take;
    len -= take;
    if (pending_len_ < sizeof(pending_)) return;
    Blocks(pending_, 1);
    pending_len_ = 0;
  }
  Blocks(p, len / 24);
  p += len / 24 * 24;
  len %= 24;
  std::memcpy(pending_, p, len);
  pending_len_ = len;
}

std::string FastCheck::Finish() {
  for (size_t i = 0; i < pending_len_; ++i) lane_[0] = SoftByte(lane_[0], pending_[i]);
  pending_len_ = 0;
  char hex[32];
  std::snprintf(hex, sizeof(hex), "%08x%08x%08x", ~lane_[0], ~lane_[1], ~lane_[2]);
  return std::string(kFastCheckPrefix) + hex;
}

std::string FastCheckString(const std::string& data) {
  FastCheck check;
  check.Update(data.data(), data.size());
  return check.Finish();
}

}  // namespace osgv
