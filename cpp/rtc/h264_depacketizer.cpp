#include "h264_depacketizer.h"

namespace kvs::rtc {

void H264Depacketizer::reset(uint32_t timestamp) {
  au_ = AccessUnit{};
  au_.rtp_timestamp = timestamp;
  active_ = true;
  broken_ = false;
  in_fu_ = false;
  has_sps_ = has_pps_ = false;
}

void H264Depacketizer::finish() {
  if (!active_) return;
  if (broken_ || in_fu_ || au_.annexb.empty()) {
    ++incomplete_;
  } else {
    au_.has_parameter_sets = has_sps_ && has_pps_;
    ++complete_;
    on_au_(au_);
  }
  active_ = false;
}

void H264Depacketizer::append_nal(const uint8_t* nal, size_t size) {
  if (size == 0) return;
  uint8_t type = nal[0] & 0x1f;
  if (type == 5) au_.keyframe = true;
  if (type == 7) has_sps_ = true;
  if (type == 8) has_pps_ = true;
  static const uint8_t kStart[] = {0, 0, 0, 1};
  au_.annexb.insert(au_.annexb.end(), kStart, kStart + 4);
  au_.annexb.insert(au_.annexb.end(), nal, nal + size);
}

void H264Depacketizer::push(uint16_t sequence, uint32_t timestamp, bool marker, const uint8_t* payload,
                            size_t size) {
  if (have_seq_) {
    uint16_t step = static_cast<uint16_t>(sequence - last_seq_);
    if (step == 0 || step > 0x8000) return;  // duplicate or reordered late: ignored
    if (step > 1 && active_) broken_ = true;  // a packet of this access unit is missing
  }
  have_seq_ = true;
  last_seq_ = sequence;
  if (active_ && timestamp != au_.rtp_timestamp) finish();  // previous AU lost its marker packet
  if (!active_) reset(timestamp);
  if (size == 0) {
    broken_ = true;
  } else {
    uint8_t type = payload[0] & 0x1f;
    if (type >= 1 && type <= 23) {
      if (in_fu_) broken_ = true;
      append_nal(payload, size);
    } else if (type == 24) {  // STAP-A
      size_t i = 1;
      while (i + 2 <= size) {
        size_t len = static_cast<size_t>(payload[i]) << 8 | payload[i + 1];
        i += 2;
        if (len == 0 || i + len > size) {
          broken_ = true;
          break;
        }
        append_nal(payload + i, len);
        i += len;
      }
    } else if (type == 28 && size >= 2) {  // FU-A
      bool start = payload[1] & 0x80, end = payload[1] & 0x40;
      if (start) {
        if (in_fu_) broken_ = true;
        uint8_t header = static_cast<uint8_t>((payload[0] & 0xe0) | (payload[1] & 0x1f));
        append_nal(&header, 1);
        in_fu_ = true;
      } else if (!in_fu_) {
        broken_ = true;  // a middle fragment without its start
      }
      if (in_fu_) au_.annexb.insert(au_.annexb.end(), payload + 2, payload + size);
      if (end) in_fu_ = false;
    } else {
      broken_ = true;  // STAP-B, MTAP, FU-B: not in packetization-mode 1
    }
  }
  if (marker) finish();
}

}  // namespace kvs::rtc
