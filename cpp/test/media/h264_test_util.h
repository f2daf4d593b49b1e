// Helpers shared by the media tests: NAL types of an access unit, openh264's decoder, and a
// reader for the pattern's 7-segment frame counter in a decoded picture.
#pragma once
#include <wels/codec_api.h>

#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "annexb.h"
#include "encoded_frame.h"
#include "pattern_source.h"

namespace kvs::media::test {

inline std::vector<int> nal_types(const EncodedFrame& frame) {
  std::vector<int> types;
  for (const NalUnit& nal : split_annexb(frame.data.data(), frame.data.size())) {
    types.push_back(nal.type());
  }
  return types;
}

struct DecodedPicture {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> luma;  // width * height, no padding
  uint8_t at(int x, int y) const { return luma[static_cast<size_t>(y) * width + x]; }
};

class TestDecoder {
 public:
  TestDecoder() {
    ISVCDecoder* raw = nullptr;
    if (WelsCreateDecoder(&raw) != 0 || !raw) return;
    decoder_.reset(raw);
    SDecodingParam param{};
    param.sVideoProperty.size = sizeof(param.sVideoProperty);
    param.sVideoProperty.eVideoBsType = VIDEO_BITSTREAM_AVC;
    if (raw->Initialize(&param) != 0) decoder_.reset();
  }
  bool ok() const { return decoder_ != nullptr; }

  // One access unit in, the picture out (openh264 decodes without delay for Baseline).
  std::optional<DecodedPicture> decode(const EncodedFrame& frame) {
    uint8_t* planes[3] = {};
    SBufferInfo info{};
    const DECODING_STATE state = decoder_->DecodeFrameNoDelay(
        frame.data.data(), static_cast<int>(frame.data.size()), planes, &info);
    if (state != dsErrorFree || info.iBufferStatus != 1) return std::nullopt;
    DecodedPicture pic;
    pic.width = info.UsrData.sSystemBuffer.iWidth;
    pic.height = info.UsrData.sSystemBuffer.iHeight;
    const int stride = info.UsrData.sSystemBuffer.iStride[0];
    pic.luma.resize(static_cast<size_t>(pic.width) * pic.height);
    for (int y = 0; y < pic.height; ++y) {
      std::memcpy(&pic.luma[static_cast<size_t>(y) * pic.width], planes[0] + y * stride, pic.width);
    }
    return pic;
  }

 private:
  struct Deleter {
    void operator()(ISVCDecoder* d) const {
      d->Uninitialize();
      WelsDestroyDecoder(d);
    }
  };
  std::unique_ptr<ISVCDecoder, Deleter> decoder_;
};

inline double mean_luma(const DecodedPicture& pic, PatternSource::Rect r) {
  if (r.width <= 0 || r.height <= 0) return 0;
  double sum = 0;
  for (int y = r.y; y < r.y + r.height; ++y) {
    for (int x = r.x; x < r.x + r.width; ++x) sum += pic.at(x, y);
  }
  return sum / (static_cast<double>(r.width) * r.height);
}

// Reads the frame counter as a person would: which segments are lit. -1 if any digit is not a
// clean 7-segment digit.
inline int64_t read_counter(const DecodedPicture& pic, const PatternSource& source) {
  int64_t value = 0;
  for (int digit = 0; digit < PatternSource::kCounterDigits; ++digit) {
    uint8_t lit = 0;
    for (int s = 0; s < 7; ++s) {
      if (mean_luma(pic, source.segment_rect(digit, s)) > 128) lit |= 1 << s;
    }
    int decimal = -1;
    for (int d = 0; d < 10; ++d) {
      if (PatternSource::segments_of(d) == lit) decimal = d;
    }
    if (decimal < 0) return -1;
    value = value * 10 + decimal;
  }
  return value;
}

}  // namespace kvs::media::test
