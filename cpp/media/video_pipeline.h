// A video pipeline: one raw source -> one encoder -> encoded frames, on its own media thread.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "encoded_frame.h"

namespace kvs::media {

struct VideoConfig {
  std::string source = "pattern";  // "pattern": moving test pattern with a frame counter;
                                   // "file": H.264 Annex-B file at `path`, looped, paced at fps;
                                   // "pipe": a command (argv, no shell) whose stdout is H.264
                                   // Annex-B or raw frames (pipe_format), supervised and
                                   // restarted when it exits;
                                   // "v4l2": a V4L2 capture device (raw -> encoder, H.264 passed)
  std::string path;
  std::string pipe_format = "h264";  // pipe: "h264" (passthrough) or raw "i420" | "nv12" | "yuyv"
                                     // frames of width x height, tightly packed, encoded
  std::string device = "/dev/video0";  // v4l2 capture node
  std::string capture_format;  // v4l2: "" = the first of NV12, YU12, YUYV, H264 the device
                               // offers, or one of those names (MJPEG is refused, not decoded)
  // Encoder for raw sources: "auto" (the board's V4L2 M2M encoder when it opens and gives H.264,
  // else openh264), "openh264", "v4l2m2m". Board profile facts below; ignored for H.264 sources.
  std::string encoder = "auto";
  std::string encoder_device;                // V4L2 M2M node; empty = none
  std::vector<std::string> encoder_quirks;   // board profile quirk names
  uint32_t encoder_cid_bitrate = 0;          // board profile control ids; 0 = standard ids
  uint32_t encoder_cid_idr_period = 0;
  int encoder_width_align = 0;               // board profile alignment; 0 = from quirks
  int encoder_height_align = 0;
  // Embed each frame's capture time (wall clock, us since the epoch) as an H.264 SEI
  // user_data_unregistered message, so a viewer can measure glass-to-glass latency.
  bool capture_timestamps = false;
  bool loop = true;  // file: start again at the end
  std::vector<std::string> command;
  int width = 640;
  int height = 480;
  int fps = 30;
  int bitrate_kbps = 1000;
  int keyframe_interval = 60;      // frames between IDRs
  // Quantiser bounds for raw sources (H.264 QP, 1..51; 0 = the encoder's default). A floor
  // (qp_min) caps the quality of easy scenes so rate control keeps bits for hard ones instead of
  // skipping pictures: openh264 holds 2 Mbps on a moving 720p30 pattern at ~16 fps without one,
  // at ~28 fps with qp_min 32.
  int qp_min = 0;
  int qp_max = 0;
};

struct VideoPipelineStats {
  uint64_t frames_encoded = 0;
  uint64_t keyframes_encoded = 0;
  uint64_t bytes_encoded = 0;
  uint64_t keyframe_requests = 0;
  int bitrate_kbps = 0;
  uint64_t frames_skipped = 0;  // dropped by encoder rate control (never reach the callback)
  uint64_t immediate_keyframes = 0;  // IDRs made at once on request from the last picture, not the next capture
  uint64_t encode_errors = 0;
  std::string encoder;          // "openh264" | "v4l2m2m" | "passthrough"
  std::string encoder_device;   // the V4L2 M2M node when v4l2m2m runs
  std::string encoder_reason;   // why this encoder (auto's choice, or the configuration)
  std::string source;           // what the source is, e.g. "v4l2 /dev/video0 (vivid) YUYV 640x480"
  uint64_t source_restarts = 0; // pipe command restarts, capture device reopenings
  uint64_t source_dropped = 0;  // frames the capture driver dropped (sequence gaps)
  int width = 0, height = 0;    // what is encoded (a camera may negotiate another size)
};

class VideoPipeline {
 public:
  // Called on the media thread for every encoded access unit. It may call request_keyframe(),
  // set_bitrate() and stats(); stop() from it only asks the thread to end (a later stop() or the
  // destructor joins it). It must not destroy the pipeline.
  using FrameCallback = std::function<void(EncodedFramePtr)>;

  // Returns nullptr and fills *error (naming what is wrong) when the config is invalid or
  // the encoder cannot be opened.
  static std::unique_ptr<VideoPipeline> create(const VideoConfig& config, FrameCallback on_frame,
                                               std::string* error);
  virtual ~VideoPipeline() = default;
  // Passthrough of H.264 that a file or a command already gives (h264_stream_pipeline.cpp).
  static std::unique_ptr<VideoPipeline> create_h264_stream(const VideoConfig& config, FrameCallback on_frame,
                                                           std::string* error);

  // Limits checked by create(); validate() lets callers reject a config early with the same
  // message (it names the field and the value).
  static constexpr int kMinWidth = 16, kMaxWidth = 3840, kMinHeight = 16, kMaxHeight = 2160;
  static constexpr int kMinFps = 1, kMaxFps = 120, kMaxBitrateKbps = 100000;
  static bool validate(const VideoConfig& config, std::string* error);

  virtual void start() = 0;             // starts the media thread; idempotent
  virtual void stop() = 0;              // joins the media thread; idempotent
  virtual void request_keyframe() = 0;  // thread-safe: the next encoded frame is an IDR with SPS/PPS
  // Whether request_keyframe() makes one: false when the source gives H.264 as it is (a file,
  // a command's stdout, a camera that encodes), whose IDRs come on the source's own GOP.
  virtual bool keyframes_on_request() const { return true; }
  virtual void set_bitrate(int kbps) = 0;  // thread-safe; <= 0 ignored, capped at kMaxBitrateKbps
  virtual VideoPipelineStats stats() const = 0;  // thread-safe
  virtual const VideoConfig& config() const = 0;
};

}  // namespace kvs::media
