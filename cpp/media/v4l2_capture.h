// A V4L2 video capture source (UVC cameras, CSI bridges, vivid): YUYV, NV12, YU12 or H.264,
// negotiated size and frame rate, MMAP streaming, driver timestamps. MJPEG-only modes are
// rejected with a message saying so (kvs-edge does not decode JPEG).
#pragma once
#include <linux/videodev2.h>

#include <cstdint>
#include <string>
#include <vector>

#include "v4l2_device.h"

namespace kvs::media {

struct V4l2CaptureConfig {
  std::string device = "/dev/video0";
  int width = 640;
  int height = 480;
  int fps = 30;
  // Acceptable pixel formats, most preferred first. Empty: NV12, YU12, YUYV, H264.
  std::vector<uint32_t> formats;
  int buffers = 4;
  int timeout_ms = 2000;   // bound on waiting for one frame
  bool export_dmabuf = false;  // export every buffer as a DMABUF (VIDIOC_EXPBUF) for zero-copy
};

// A captured buffer lent to the caller (zero-copy); give it back with requeue_buffer().
struct V4l2CaptureBuffer {
  uint32_t index = 0;
  const uint8_t* data = nullptr;  // the mapped buffer (plane 0), in the driver's layout
  uint32_t bytesused = 0;
  uint32_t length = 0;
  int dmabuf_fd = -1;             // with export_dmabuf; owned by the capture source
  int64_t timestamp_us = 0;
  uint32_t sequence = 0;
};

struct V4l2CapturedFrame {
  std::vector<uint8_t> data;  // tightly packed raw frame, or one H.264 Annex-B chunk
  uint32_t format = 0;
  int width = 0;
  int height = 0;
  int64_t timestamp_us = 0;   // the driver's timestamp
  bool monotonic = false;     // the timestamp is CLOCK_MONOTONIC (V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC)
  uint32_t sequence = 0;      // the driver's frame counter (gaps = dropped frames)
  bool keyframe = false;      // for H.264: V4L2_BUF_FLAG_KEYFRAME or an IDR NAL unit
};

class V4l2Capture {
 public:
  explicit V4l2Capture(V4l2CaptureConfig config);
  ~V4l2Capture();
  V4l2Capture(const V4l2Capture&) = delete;
  V4l2Capture& operator=(const V4l2Capture&) = delete;

  // Opens and negotiates; *error names the device and the reason (e.g. MJPEG-only).
  bool open(std::string* error);
  bool start(std::string* error);
  void stop();
  void close();
  bool is_open() const { return device_.is_open(); }

  // Waits up to config.timeout_ms for the next frame.
  bool read_frame(V4l2CapturedFrame* frame, std::string* error);

  // Zero-copy: dequeues the next buffer (bounded wait) without copying; the driver cannot fill
  // it again until requeue_buffer(index). Do not mix with read_frame() on held buffers.
  bool dequeue_buffer(V4l2CaptureBuffer* buf, std::string* error);
  bool requeue_buffer(uint32_t index, std::string* error);
  uint32_t bytesperline() const { return bpl_[0]; }

  // Negotiated values (valid after open()).
  uint32_t format() const { return format_; }
  int width() const { return width_; }
  int height() const { return height_; }
  double fps() const { return fps_; }
  bool multiplanar() const { return mplane_; }
  std::string driver() const;
  // Formats the device offers, in its order.
  const std::vector<uint32_t>& offered_formats() const { return offered_; }
  // Frames whose sequence number skipped ahead (dropped by the driver).
  uint64_t dropped() const { return dropped_; }

 private:
  bool dequeue(v4l2_buffer* b, v4l2_plane* planes, std::string* error);
  bool allocate(std::string* error);
  void release();

  V4l2CaptureConfig config_;
  V4l2Device device_;
  bool mplane_ = false;
  bool streaming_ = false;
  uint32_t type_ = V4L2_BUF_TYPE_VIDEO_CAPTURE;
  uint32_t format_ = 0;
  int width_ = 0, height_ = 0;
  double fps_ = 0;
  uint32_t num_planes_ = 1;
  uint32_t bpl_[VIDEO_MAX_PLANES] = {};
  std::vector<uint32_t> offered_;
  V4l2BufferQueue queue_{device_, V4L2_BUF_TYPE_VIDEO_CAPTURE, "CAPTURE"};
  std::vector<int> dmabuf_fds_;  // with export_dmabuf, one per buffer
  bool have_sequence_ = false;
  uint32_t last_sequence_ = 0;
  uint64_t dropped_ = 0;
};

}  // namespace kvs::media
