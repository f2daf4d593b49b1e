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
                                   // Annex-B, supervised and restarted when it exits
  std::string path;
  bool loop = true;  // file: start again at the end
  std::vector<std::string> command;
  int width = 640;
  int height = 480;
  int fps = 30;
  int bitrate_kbps = 1000;
  int keyframe_interval = 60;      // frames between IDRs
};

struct VideoPipelineStats {
  uint64_t frames_encoded = 0;
  uint64_t keyframes_encoded = 0;
  uint64_t bytes_encoded = 0;
  uint64_t keyframe_requests = 0;
  int bitrate_kbps = 0;
  uint64_t frames_skipped = 0;  // dropped by encoder rate control (never reach the callback)
  uint64_t encode_errors = 0;
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
  virtual void set_bitrate(int kbps) = 0;  // thread-safe; <= 0 ignored, capped at kMaxBitrateKbps
  virtual VideoPipelineStats stats() const = 0;  // thread-safe
  virtual const VideoConfig& config() const = 0;
};

}  // namespace kvs::media
