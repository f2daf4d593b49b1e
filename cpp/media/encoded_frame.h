// An encoded video access unit: refcounted and immutable once published.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

namespace kvs::media {

struct EncodedFrame {
  std::vector<uint8_t> data;     // H.264 Annex-B (start codes included), one access unit
  bool keyframe = false;         // contains an IDR slice
  int64_t capture_time_us = 0;   // CLOCK_MONOTONIC microseconds when the raw frame was produced
  uint32_t rtp_timestamp = 0;    // 90 kHz clock
  uint32_t width = 0;
  uint32_t height = 0;
  uint64_t index = 0;            // 0-based count of frames produced by the encoder
};

using EncodedFramePtr = std::shared_ptr<const EncodedFrame>;

}  // namespace kvs::media
