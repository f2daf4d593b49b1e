// The H.264 encoders a raw-source pipeline can run, behind one interface: openh264 (software)
// and a V4L2 M2M stateful encoder (Pi bcm2835-codec, Jetson NVENC through libv4l2), plus the
// choice `auto` makes between them. Board quirks (device, control ids, alignment) arrive as data
// in H264EncoderSettings (from the board profile), never as code branches per board.
// Not thread-safe: the pipeline's media thread makes every call.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "encoded_frame.h"
#include "i420_frame.h"

namespace kvs::media {

struct H264EncoderSettings {
  std::string kind = "auto";         // "auto" | "openh264" | "v4l2m2m"
  std::string device;                // V4L2 M2M encoder node; empty: the board has none
  std::vector<std::string> quirks;   // board profile quirk names (apply_v4l2_encoder_quirk)
  uint32_t cid_bitrate = 0;          // board profile control ids; 0 = the standard V4L2 ids
  uint32_t cid_idr_period = 0;
  int width_align = 0;               // board profile alignment; 0 = from the quirks / none
  int height_align = 0;
  int width = 640, height = 480, fps = 30, bitrate_kbps = 1000, keyframe_interval = 60;
  int qp_min = 0, qp_max = 0;        // H.264 QP bounds; 0 = the encoder's default
  // Test hook (qemu): the coded format asked of the M2M node instead of H.264, so `auto`'s
  // run-time check can be exercised on vicodec (FWHT). 0 = H.264.
  uint32_t coded_format_for_test = 0;
};

// Which encoder runs and why (status, stats).
struct H264EncoderInfo {
  std::string name;    // "openh264" | "v4l2m2m"
  std::string device;  // the V4L2 node for v4l2m2m
  std::string reason;  // e.g. "auto: /dev/video11: no such device; software encoder"
};

class H264Encoder {
 public:
  virtual ~H264Encoder() = default;
  // Encodes one picture; appends the access units that came out (none when rate control skipped
  // it, possibly a frame late for hardware encoders). false + *error on failure.
  virtual bool encode(const I420Frame& picture, int64_t capture_time_us,
                      std::vector<EncodedFramePtr>* out, std::string* error) = 0;
  virtual void request_keyframe() = 0;
  virtual bool set_bitrate(int kbps) = 0;
  virtual H264EncoderInfo info() const = 0;
  // True once after the running encoder changed (auto fell back at run time).
  virtual bool take_info_change() { return false; }
};

// Opens the encoder `settings.kind` names. For "auto": the hardware encoder when settings.device
// opens as a V4L2 M2M encoder with H.264 output (and, while running, its first access units are
// H.264 with SPS and an IDR), else openh264; info().reason says which and why. "v4l2m2m" fails
// (nullptr + *error) instead of falling back.
std::unique_ptr<H264Encoder> open_h264_encoder(const H264EncoderSettings& settings, std::string* error);

// true when an access unit is Annex-B H.264 (start code, then a NAL header with forbidden_zero_bit
// clear) holding an SPS and an IDR slice.
bool is_h264_idr_access_unit(const uint8_t* data, size_t size);

}  // namespace kvs::media
