// A V4L2 memory-to-memory stateful encoder (the kernel's dev-encoder interface), called through
// libv4l2: the Raspberry Pi's bcm2835-codec, Jetson NVENC through libv4l2's NVIDIA plugin, and the
// kernel's vicodec (FWHT) on which it is tested under qemu. Single- and multi-planar APIs, MMAP
// buffers on both queues. Board quirks come from V4l2EncoderConfig (filled by the board profile).
//
// Not thread-safe except request_keyframe() and set_bitrate(), which only record a request that
// the next encode() applies on the media thread.
#pragma once
#include <linux/videodev2.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "v4l2_device.h"

namespace kvs::media {

struct V4l2EncoderConfig {
  std::string device = "/dev/video11";         // bcm2835-codec's usual node on a Pi
  uint32_t coded_format = V4L2_PIX_FMT_H264;   // V4L2_PIX_FMT_FWHT drives vicodec
  uint32_t input_format = V4L2_PIX_FMT_YUV420; // NV12, YU12 (I420) or YUYV, tightly packed
  int width = 640;
  int height = 480;
  int fps = 30;
  int bitrate_bps = 1'000'000;
  int h264_profile = V4L2_MPEG_VIDEO_H264_PROFILE_CONSTRAINED_BASELINE;  // -1: driver default
  int h264_level = -1;                          // V4L2_MPEG_VIDEO_H264_LEVEL_*; -1: driver default
  int idr_period = 60;                          // frames between IDRs; 0: driver default
  int qp_min = 0, qp_max = 0;                   // H.264 QP bounds; 0: driver default
  bool repeat_sps_pps = true;                   // SPS/PPS before every IDR
  int output_buffers = 4;                       // raw frames in flight
  int capture_buffers = 4;                      // coded buffers
  uint32_t capture_buffer_size = 0;             // bytes per coded buffer; 0: the driver's choice
  // --- quirks (board profile) ---
  int width_align = 1;                          // the raw buffer size is padded to these
  int height_align = 1;
  bool force_multiplanar = false;               // use the MPLANE API even if both are offered
  // When V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME is missing, a keyframe request runs the encoder's
  // Reset sequence (drain, STREAMOFF/STREAMON CAPTURE), after which the stream restarts with a
  // keyframe per the dev-encoder spec. Without this, such requests are only counted.
  bool keyframe_by_reset = true;
  uint32_t cid_bitrate = V4L2_CID_MPEG_VIDEO_BITRATE;
  uint32_t cid_idr_period = V4L2_CID_MPEG_VIDEO_H264_I_PERIOD;
  // OUTPUT buffers are imported DMABUFs (encode_dmabuf) instead of MMAP buffers filled by copy:
  // zero-copy from a V4L2 capture source that exports its buffers.
  bool dmabuf_input = false;
  int max_reopens = 3;                          // automatic recoveries before giving up
  int timeout_ms = 2000;                        // bound on every wait for the device
};

// Applies one board-profile quirk (boards/*.json, encoders[].quirks) to the config:
//   needs-stride-multiple-of-32  width padded to 32 (bcm2835-codec)
//   height-multiple-of-16        height padded to 16
//   multiplanar                  use the MPLANE API even if single-planar is offered
//   no-keyframe-reset            keyframe requests without FORCE_KEY_FRAME are only counted
//   stateful-encoder, libv4l2-plugin, jetpack-*   informational: nothing to change (libv4l2 is
//                                always used, so its plugins load)
// Returns false for a quirk it does not know, so the caller can report it.
bool apply_v4l2_encoder_quirk(const std::string& quirk, V4l2EncoderConfig* config);

// One raw frame, tightly packed in config.input_format at config.width x config.height.
struct V4l2RawFrame {
  const uint8_t* data = nullptr;
  size_t size = 0;
  int64_t timestamp_us = 0;  // copied by the driver to the coded buffer(s) of this frame
};

// One raw frame in a DMABUF (e.g. exported by V4l2Capture), already in the encoder's negotiated
// OUTPUT layout (output_bytesperline(), coded_height()); one memory plane.
struct V4l2DmabufFrame {
  int fd = -1;
  uint32_t bytesused = 0;
  uint32_t length = 0;       // size of the DMABUF
  int64_t timestamp_us = 0;
  uint64_t cookie = 0;       // handed back through *released once the encoder is done reading
};

struct V4l2CodedBuffer {
  std::vector<uint8_t> data;
  bool keyframe = false;     // V4L2_BUF_FLAG_KEYFRAME, an IDR in H.264, the I-frame flag in FWHT
  int64_t timestamp_us = 0;
  uint32_t sequence = 0;
  bool error = false;        // returned with V4L2_BUF_FLAG_ERROR
};

// What happened to one control the config asked for.
struct V4l2ControlResult {
  std::string name;
  uint32_t id = 0;
  int64_t value = 0;
  bool applied = false;
  std::string detail;  // why not: "not supported by <driver>", the errno, the clamped value...
};

struct V4l2EncoderStats {
  uint64_t frames_in = 0;
  uint64_t buffers_out = 0;
  uint64_t keyframes_out = 0;
  uint64_t keyframe_requests = 0;
  uint64_t keyframes_forced_by_control = 0;
  uint64_t keyframes_forced_by_reset = 0;
  uint64_t error_buffers = 0;
  uint64_t eos_events = 0;
  uint64_t source_change_events = 0;
  uint64_t drains = 0;
  uint64_t capture_restarts = 0;  // CAPTURE queue restarted after an unexpected EPIPE
  uint64_t reopens = 0;
  int bitrate_bps = 0;   // last value the driver accepted
};

// True if an FWHT (vicodec) compressed frame has the I-frame flag in its header.
bool fwht_is_keyframe(const uint8_t* data, size_t size);

class V4l2M2mEncoder {
 public:
  explicit V4l2M2mEncoder(V4l2EncoderConfig config);
  ~V4l2M2mEncoder();
  V4l2M2mEncoder(const V4l2M2mEncoder&) = delete;
  V4l2M2mEncoder& operator=(const V4l2M2mEncoder&) = delete;

  // Opens the device, checks it is a M2M encoder for the coded format, negotiates both queues,
  // sets controls (a control the driver lacks is reported in controls(), not an error),
  // allocates and maps buffers, starts streaming. *error names the device and what failed.
  bool open(std::string* error);
  void close();
  bool is_open() const { return device_.is_open(); }

  // Queues one raw frame (waiting, bounded, for a free OUTPUT buffer) and appends every coded
  // buffer that is ready to *out. On a device failure (EIO, ENODEV, ...) it reopens the device
  // (up to max_reopens times in a row) and retries the frame once.
  bool encode(const V4l2RawFrame& frame, std::vector<V4l2CodedBuffer>* out, std::string* error);
  // Zero-copy variant (config.dmabuf_input): queues the DMABUF. The caller must keep the buffer
  // untouched until its cookie comes back in *released (from this or a later call, drain() or
  // close()); the same recovery as encode() applies.
  bool encode_dmabuf(const V4l2DmabufFrame& frame, std::vector<V4l2CodedBuffer>* out,
                     std::vector<uint64_t>* released, std::string* error);
  // Cookies of DMABUF frames the encoder no longer reads, collected since the last call.
  std::vector<uint64_t> take_released();
  uint32_t output_bytesperline() const { return out_bpl_[0]; }
  uint32_t output_sizeimage() const { return out_sizeimage_[0]; }
  // Waits up to timeout_ms for coded buffers and appends what arrives.
  bool poll(int timeout_ms, std::vector<V4l2CodedBuffer>* out, std::string* error);
  // Drain per dev-encoder: V4L2_ENC_CMD_STOP, collect every coded buffer up to the one flagged
  // V4L2_BUF_FLAG_LAST, take back the OUTPUT buffers, then resume with STREAMOFF/STREAMON on
  // CAPTURE, so encoding can go on; the next coded buffer starts an independent stream (keyframe).
  bool drain(std::vector<V4l2CodedBuffer>* out, std::string* error);
  // Closes and reopens the device and restores the configuration (what encode() does on
  // failure); the next coded buffer starts a new stream.
  bool reopen(std::string* error);

  void request_keyframe();   // thread-safe; applied before the next frame is queued
  void set_bitrate(int bps); // thread-safe; applied before the next frame is queued

  bool multiplanar() const { return mplane_; }
  std::string driver() const;
  std::string card() const;
  uint32_t coded_format() const { return config_.coded_format; }
  int coded_width() const { return out_width_; }
  int coded_height() const { return out_height_; }
  const std::vector<V4l2ControlResult>& controls() const { return controls_; }
  // The result of the last runtime bitrate change (empty name if none yet).
  const V4l2ControlResult& last_bitrate_change() const { return last_bitrate_; }
  const V4l2EncoderStats& stats() const { return stats_; }
  V4l2Device& device_for_test() { return device_; }

 private:
  using Plane = V4l2MappedPlane;
  struct Buffer {
    std::vector<Plane> planes;
    bool queued = false;
    uint64_t cookie = 0;  // DMABUF input: the caller's frame in this buffer
  };

  bool open_once(std::string* error);
  bool negotiate(std::string* error);
  void apply_controls();
  bool set_control(uint32_t id, const char* name, int64_t value, V4l2ControlResult* result);
  bool allocate(uint32_t type, int count, std::vector<Buffer>* bufs, std::string* error);
  void release(uint32_t type, std::vector<Buffer>* bufs);
  bool queue_capture(uint32_t index, std::string* error);
  bool stream(uint32_t type, bool on, std::string* error);
  V4l2BufferQueue& queue_of(uint32_t type);
  bool encode_once(const V4l2RawFrame& frame, std::vector<V4l2CodedBuffer>* out, std::string* error);
  bool encode_dmabuf_once(const V4l2DmabufFrame& frame, std::vector<V4l2CodedBuffer>* out,
                          std::string* error);
  bool wait_free_output(std::vector<V4l2CodedBuffer>* out, int* index, std::string* error);
  template <class Once>
  bool with_recovery(Once once, std::string* error);
  bool apply_pending(std::vector<V4l2CodedBuffer>* out, std::string* error);
  bool reset_sequence(std::vector<V4l2CodedBuffer>* out, std::string* error);
  bool restart_capture(std::string* error);
  // Dequeues everything ready on both queues. *last is set when a LAST buffer came out.
  bool collect(std::vector<V4l2CodedBuffer>* out, bool* last, std::string* error);
  bool dequeue_capture(std::vector<V4l2CodedBuffer>* out, bool* last, bool* got, std::string* error);
  bool dequeue_output(bool* got, std::string* error);
  void handle_events();
  bool fill_output(Buffer& buf, const V4l2RawFrame& frame, uint32_t* bytesused, std::string* error);
  bool fatal(int err) const;

  V4l2EncoderConfig config_;
  V4l2Device device_;
  bool mplane_ = false;
  uint32_t out_type_ = 0, cap_type_ = 0;
  // Negotiated OUTPUT (raw) format.
  int out_width_ = 0, out_height_ = 0;
  uint32_t out_planes_ = 1;
  uint32_t out_bpl_[VIDEO_MAX_PLANES] = {};
  uint32_t out_sizeimage_[VIDEO_MAX_PLANES] = {};
  uint32_t cap_sizeimage_ = 0;
  std::vector<Buffer> out_bufs_, cap_bufs_;  // per-buffer state; the mappings are the queues'
  V4l2BufferQueue out_queue_{device_, V4L2_BUF_TYPE_VIDEO_OUTPUT, "OUTPUT"};
  V4l2BufferQueue cap_queue_{device_, V4L2_BUF_TYPE_VIDEO_CAPTURE, "CAPTURE"};
  uint32_t out_memory_ = V4L2_MEMORY_MMAP;
  std::vector<uint64_t> released_;
  bool has_force_key_ = false;
  bool draining_ = false;
  std::vector<V4l2ControlResult> controls_;
  V4l2ControlResult last_bitrate_;
  V4l2EncoderStats stats_;
  int consecutive_reopens_ = 0;
  bool stalled_ = false;
  std::atomic<bool> keyframe_pending_{false};
  std::atomic<int> bitrate_pending_{0};
};

}  // namespace kvs::media
