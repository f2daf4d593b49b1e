// H.264 RTP payload format (RFC 6184), packetization-mode 1 (non-interleaved): single NAL unit
// packets (5.6), STAP-A aggregation (5.7.1) and FU-A fragmentation (5.8).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "annexb.h"

namespace kvs::rtc {

struct RtpPayload {
  std::vector<uint8_t> data;  // RTP payload (no RTP header)
  bool marker = false;        // last packet of the access unit
};

class H264Packetizer {
 public:
  explicit H264Packetizer(size_t max_payload = 1200) : max_payload_(max_payload) {}

  // Packetizes one access unit given as Annex-B bytes. SPS and PPS seen in the stream are
  // cached and inserted before an IDR that lacks them, so every IDR is decodable on its own.
  // NAL units with a forbidden bit or type 0 are dropped.
  std::vector<RtpPayload> packetize(const uint8_t* annexb, size_t size);

  size_t max_payload() const { return max_payload_; }

 private:
  void emit_nals(const std::vector<media::NalUnit>& nals, std::vector<RtpPayload>* out) const;

  size_t max_payload_;
  std::vector<uint8_t> sps_, pps_;
};

}  // namespace kvs::rtc
