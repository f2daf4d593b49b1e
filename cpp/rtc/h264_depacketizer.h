// H.264 RTP depacketization (RFC 6184 mode 1): single NAL unit, STAP-A and FU-A packets back
// into access units (grouped by RTP timestamp, ended by the marker bit). An access unit with a
// missing packet is dropped and counted, never handed on half-built.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace kvs::rtc {

struct AccessUnit {
  std::vector<uint8_t> annexb;  // NAL units with 4-byte start codes
  uint32_t rtp_timestamp = 0;
  bool keyframe = false;        // contains an IDR slice
  bool has_parameter_sets = false;  // SPS and PPS present
};

class H264Depacketizer {
 public:
  using Callback = std::function<void(const AccessUnit&)>;
  explicit H264Depacketizer(Callback on_access_unit) : on_au_(std::move(on_access_unit)) {}

  void push(uint16_t sequence, uint32_t timestamp, bool marker, const uint8_t* payload, size_t size);

  uint64_t complete() const { return complete_; }
  uint64_t incomplete() const { return incomplete_; }

 private:
  void append_nal(const uint8_t* nal, size_t size);
  void finish();
  void reset(uint32_t timestamp);

  Callback on_au_;
  AccessUnit au_;
  bool active_ = false;
  bool broken_ = false;
  bool in_fu_ = false;
  bool have_seq_ = false;
  uint16_t last_seq_ = 0;
  uint64_t complete_ = 0, incomplete_ = 0;
  bool has_sps_ = false, has_pps_ = false;
};

}  // namespace kvs::rtc
