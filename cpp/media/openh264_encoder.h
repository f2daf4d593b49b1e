// H.264 software encoder on Cisco's openh264: Constrained Baseline, CAVLC, one slice per
// picture, bitrate-mode rate control. Output is one Annex-B access unit per picture, and every
// IDR access unit starts with SPS and PPS (so a viewer can start decoding at any IDR).
// Not thread-safe: one owner thread (the pipeline's media thread) makes every call.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "encoded_frame.h"
#include "i420_frame.h"

class ISVCEncoder;

namespace kvs::media {

struct EncoderConfig {
  int width = 640;   // even, as the source delivers it
  int height = 480;
  int fps = 30;
  int bitrate_kbps = 1000;
  int keyframe_interval = 60;  // frames between scheduled IDRs
  int qp_min = 0, qp_max = 0;  // QP bounds; 0 = openh264's default
};

class OpenH264Encoder {
 public:
  // Returns nullptr and fills *error when openh264 refuses the configuration.
  static std::unique_ptr<OpenH264Encoder> create(const EncoderConfig& config, std::string* error);
  ~OpenH264Encoder();

  // Encodes one picture captured at capture_time_us (CLOCK_MONOTONIC). Returns nullptr when rate
  // control skipped the picture (error left empty) or when encoding failed (*error set).
  EncodedFramePtr encode(const I420Frame& picture, int64_t capture_time_us, std::string* error);

  // The next encoded picture is an IDR. The request stays pending through skipped pictures.
  void request_keyframe() { keyframe_pending_ = true; }
  // Target bitrate from the next picture on. Returns false (and changes nothing) for kbps <= 0
  // or if openh264 refused it.
  bool set_bitrate(int kbps);

  const EncoderConfig& config() const { return config_; }

 private:
  struct Deleter {
    void operator()(ISVCEncoder* encoder) const;
  };

  explicit OpenH264Encoder(const EncoderConfig& config) : config_(config) {}
  int openh264_bps(int kbps) const;  // the bitrate openh264 is told (see kOpenH264MaxFps)
  // Appends the payload; inserts the cached SPS/PPS in front of an IDR that lacks them.
  void assemble(const uint8_t* data, size_t size, bool idr, std::vector<uint8_t>& out);

  EncoderConfig config_;
  std::unique_ptr<ISVCEncoder, Deleter> encoder_;
  bool keyframe_pending_ = false;
  uint64_t frames_out_ = 0;
  std::vector<uint8_t> parameter_sets_;  // last SPS+PPS seen, Annex-B, start codes included
};

}  // namespace kvs::media
