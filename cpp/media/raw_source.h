// Raw picture sources for the encoding pipeline: the test pattern (paced by the clock), a V4L2
// capture device (paced by the driver; YUYV, NV12, YU12 converted to I420; driver timestamps),
// and a command whose stdout is raw I420 / NV12 / YUYV frames of the configured size (supervised:
// restarted with backoff when it exits). Each next() waits a bounded time so the pipeline can
// stop promptly. Not thread-safe except interrupt().
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "i420_frame.h"

namespace kvs::media {

class V4l2Capture;
struct VideoConfig;

// Converts one tightly packed frame (V4L2 fourcc YUYV, NV12 or YU12) to I420. Odd widths/heights
// are cropped to even. false when the format is unknown or the buffer is too small.
bool convert_to_i420(uint32_t fourcc, const uint8_t* data, size_t size, int width, int height,
                     I420Frame* out);

class RawSource {
 public:
  enum class Result { kFrame, kNone, kEnd };
  virtual ~RawSource() = default;
  // Delivers the next picture and its capture time (CLOCK_MONOTONIC us). kNone: nothing within
  // the bounded wait (a message in *error when something failed and is being retried); kEnd:
  // the source is finished (a file played once).
  virtual Result next(I420Frame* picture, int64_t* capture_us, std::string* error) = 0;
  // Wakes a waiting next() (stop). Thread-safe.
  virtual void interrupt() = 0;
  // Clears interrupt() before the pipeline starts again.
  virtual void resume() = 0;
  virtual int width() const = 0;   // even
  virtual int height() const = 0;  // even
  virtual std::string describe() const = 0;  // e.g. "v4l2 /dev/video0 (vivid) YUYV 640x480@25"
  virtual uint64_t restarts() const { return 0; }
  virtual uint64_t dropped() const { return 0; }
};

std::unique_ptr<RawSource> make_pattern_source(const VideoConfig& config);
// Takes a capture already opened (negotiated) by the caller; starts streaming on first next().
std::unique_ptr<RawSource> make_v4l2_raw_source(std::unique_ptr<V4l2Capture> capture,
                                                const VideoConfig& config);
// config.pipe_format: "i420" | "nv12" | "yuyv".
std::unique_ptr<RawSource> make_pipe_raw_source(const VideoConfig& config);

}  // namespace kvs::media
