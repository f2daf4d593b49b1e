// H.264 Annex-B byte stream (ITU-T H.264 Annex B): split into NAL units.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace kvs::media {

struct NalUnit {
  const uint8_t* data;  // first byte is the NAL header; start code excluded
  size_t size;
  uint8_t type() const { return data[0] & 0x1f; }
};

// NAL unit types (H.264 Table 7-1) used by the engine.
enum NalType : uint8_t {
  kNalSlice = 1,
  kNalIdr = 5,
  kNalSei = 6,
  kNalSps = 7,
  kNalPps = 8,
  kNalAud = 9,
};

// Splits an Annex-B buffer at 3- or 4-byte start codes. Empty NAL units are skipped;
// bytes before the first start code are ignored. Never reads past [data, data+size).
std::vector<NalUnit> split_annexb(const uint8_t* data, size_t size);

}  // namespace kvs::media
