#include "h264_sei.h"

#include <time.h>

#include <cstring>

#include "annexb.h"

namespace kvs::media {

const uint8_t kKvsTimestampSeiUuid[16] = {0x6b, 0x76, 0x73, 0x2d, 0x65, 0x64, 0x67, 0x65,   // "kvs-edge"
                                          0x9c, 0x41, 0x4e, 0x1d, 0xa3, 0x52, 0x7f, 0x10};  // + random

std::vector<uint8_t> h264_unescape_rbsp(const uint8_t* data, size_t size) {
  std::vector<uint8_t> out;
  out.reserve(size);
  int zeros = 0;
  for (size_t i = 0; i < size; ++i) {
    const uint8_t b = data[i];
    if (zeros >= 2 && b == 3) {  // emulation_prevention_three_byte: drop it
      zeros = 0;
      continue;
    }
    out.push_back(b);
    zeros = b == 0 ? zeros + 1 : 0;
  }
  return out;
}

std::vector<uint8_t> h264_escape_rbsp(const uint8_t* data, size_t size) {
  std::vector<uint8_t> out;
  out.reserve(size + size / 64 + 4);
  int zeros = 0;
  for (size_t i = 0; i < size; ++i) {
    const uint8_t b = data[i];
    if (zeros >= 2 && b <= 3) {
      out.push_back(3);
      zeros = 0;
    }
    out.push_back(b);
    zeros = b == 0 ? zeros + 1 : 0;
  }
  return out;
}

bool parse_sei_nal(const uint8_t* nal, size_t size, std::vector<SeiMessage>* out) {
  if (size < 2 || (nal[0] & 0x1f) != 6 || (nal[0] & 0x80)) return false;
  const std::vector<uint8_t> rbsp = h264_unescape_rbsp(nal + 1, size - 1);
  size_t i = 0;
  const size_t n = rbsp.size();
  // sei_rbsp: sei_message()+ then rbsp_trailing_bits (0x80, then zero bytes).
  while (i < n) {
    if (rbsp[i] == 0x80) {
      bool only_zeros = true;
      for (size_t k = i + 1; k < n; ++k) only_zeros = only_zeros && rbsp[k] == 0;
      if (only_zeros) return true;
    }
    uint64_t type = 0, len = 0;
    while (i < n && rbsp[i] == 0xff) {
      type += 255;
      ++i;
      if (type > (1u << 20)) return false;
    }
    if (i >= n) return false;
    type += rbsp[i++];
    while (i < n && rbsp[i] == 0xff) {
      len += 255;
      ++i;
      if (len > n) return false;
    }
    if (i >= n) return false;
    len += rbsp[i++];
    if (len > n - i) return false;
    SeiMessage m;
    m.type = static_cast<uint32_t>(type);
    m.payload.assign(rbsp.begin() + i, rbsp.begin() + i + len);
    out->push_back(std::move(m));
    i += len;
  }
  return false;  // no rbsp_trailing_bits
}

std::vector<uint8_t> make_timestamp_sei_nal(uint64_t timestamp_us) {
  std::vector<uint8_t> rbsp;
  rbsp.push_back(5);   // payloadType: user_data_unregistered
  rbsp.push_back(24);  // payloadSize: 16-byte UUID + 8-byte timestamp
  rbsp.insert(rbsp.end(), kKvsTimestampSeiUuid, kKvsTimestampSeiUuid + 16);
  for (int s = 56; s >= 0; s -= 8) rbsp.push_back(static_cast<uint8_t>(timestamp_us >> s));
  rbsp.push_back(0x80);  // rbsp_trailing_bits
  std::vector<uint8_t> nal{0x06};  // nal_ref_idc 0, type 6
  const std::vector<uint8_t> esc = h264_escape_rbsp(rbsp.data(), rbsp.size());
  nal.insert(nal.end(), esc.begin(), esc.end());
  return nal;
}

bool find_timestamp_sei(const uint8_t* nal, size_t size, uint64_t* timestamp_us) {
  std::vector<SeiMessage> msgs;
  parse_sei_nal(nal, size, &msgs);
  for (const SeiMessage& m : msgs) {
    if (m.type != 5 || m.payload.size() < 24) continue;
    if (memcmp(m.payload.data(), kKvsTimestampSeiUuid, 16) != 0) continue;
    uint64_t v = 0;
    for (int k = 0; k < 8; ++k) v = (v << 8) | m.payload[16 + k];
    *timestamp_us = v;
    return true;
  }
  return false;
}

bool insert_timestamp_sei(std::vector<uint8_t>* au, uint64_t timestamp_us) {
  const uint8_t* base = au->data();
  for (const NalUnit& n : split_annexb(base, au->size())) {
    const uint8_t t = n.type();
    if (t < kNalSlice || t > kNalIdr) continue;
    // Back up over the start code (3 or 4 bytes) in front of this NAL unit.
    size_t at = static_cast<size_t>(n.data - base) - 3;
    if (at > 0 && base[at - 1] == 0) --at;
    std::vector<uint8_t> sei{0, 0, 0, 1};
    const std::vector<uint8_t> nal = make_timestamp_sei_nal(timestamp_us);
    sei.insert(sei.end(), nal.begin(), nal.end());
    au->insert(au->begin() + static_cast<std::ptrdiff_t>(at), sei.begin(), sei.end());
    return true;
  }
  return false;
}

int64_t wall_clock_us() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

int64_t monotonic_to_wall_us(int64_t monotonic_us) {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const int64_t mono_now = int64_t(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
  return wall_clock_us() - (mono_now - monotonic_us);
}

}  // namespace kvs::media
