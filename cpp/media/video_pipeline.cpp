// VideoPipeline for raw sources: RawSource (pattern, V4L2 capture, raw pipe) -> H264Encoder
// (openh264 or V4L2 M2M, `auto` choosing) -> callback. Two media threads: the capture thread
// waits on the source (the pattern is paced by CLOCK_MONOTONIC, a camera by its driver, a pipe by
// its command) and hands each picture over through a one-slot mailbox (swapped, not copied; it
// waits while the slot is full, so a slow encoder holds the source back as before rather than
// losing pictures); the encode thread encodes it. A keyframe request does not wait for the next
// capture: the encode thread makes the IDR at once from the last picture (a new viewer's first
// picture comes up to one frame interval sooner), as a picture 1 ms after that one so RTP
// timestamps keep increasing.
//
// Threads: start/stop/request_keyframe/set_bitrate/stats may be called from any thread (start
// and stop not concurrently with each other; stop from the frame callback only flags the threads
// to end). Encoder state belongs to the encode thread, the source to the capture thread; the
// mailbox is guarded by mutex_, other state is atomic or under the info mutex.
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "h264_encoder.h"
#include "h264_sei.h"
#include "pipeline_internal.h"
#include "raw_source.h"
#include "video_pipeline.h"

namespace kvs::media {
namespace {

std::string range_error(const char* field, int value, const char* rule) {
  return std::string("invalid video config: ") + field + "=" + std::to_string(value) + " (" +
         rule + ")";
}

class EncodingVideoPipeline final : public VideoPipeline {
 public:
  EncodingVideoPipeline(const VideoConfig& config, std::unique_ptr<RawSource> source,
                        std::unique_ptr<H264Encoder> encoder, FrameCallback on_frame)
      : config_(config),
        on_frame_(std::move(on_frame)),
        source_(std::move(source)),
        encoder_(std::move(encoder)),
        applied_kbps_(config.bitrate_kbps),
        target_kbps_(config.bitrate_kbps),
        info_(encoder_->info()),
        source_name_(source_->describe()) {
    config_.width = source_->width();
    config_.height = source_->height();
  }

  ~EncodingVideoPipeline() override { stop(); }

  void start() override {
    std::lock_guard lock(mutex_);
    if (capture_thread_.joinable() || encode_thread_.joinable()) return;
    stopping_ = false;
    source_ended_ = false;
    fresh_ = false;
    source_->resume();
    capture_thread_ = std::thread([this] { capture(); });
    encode_thread_ = std::thread([this] { encode_loop(); });
  }

  void stop() override {
    std::thread capture, encode;
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      source_->interrupt();
      wake_.notify_all();
      taken_.notify_all();
      const auto self = std::this_thread::get_id();
      // From the frame callback (or the capture thread): no self-join; a later stop() joins.
      if (capture_thread_.get_id() == self || encode_thread_.get_id() == self) return;
      capture = std::move(capture_thread_);
      encode = std::move(encode_thread_);
    }
    if (capture.joinable()) capture.join();
    if (encode.joinable()) encode.join();
  }

  void request_keyframe() override {
    keyframe_requests_.fetch_add(1, std::memory_order_relaxed);
    {
      std::lock_guard lock(mutex_);
      keyframe_requested_ = true;
    }
    wake_.notify_all();
  }

  void set_bitrate(int kbps) override {
    if (kbps <= 0) return;  // nonsensical estimate: keep the current target
    target_kbps_.store(std::min(kbps, kMaxBitrateKbps), std::memory_order_relaxed);
  }

  VideoPipelineStats stats() const override {
    VideoPipelineStats s;
    s.frames_encoded = frames_encoded_.load(std::memory_order_relaxed);
    s.keyframes_encoded = keyframes_encoded_.load(std::memory_order_relaxed);
    s.bytes_encoded = bytes_encoded_.load(std::memory_order_relaxed);
    s.keyframe_requests = keyframe_requests_.load(std::memory_order_relaxed);
    s.immediate_keyframes = immediate_keyframes_.load(std::memory_order_relaxed);
    s.bitrate_kbps = target_kbps_.load(std::memory_order_relaxed);
    s.frames_skipped = frames_skipped_.load(std::memory_order_relaxed);
    s.encode_errors = encode_errors_.load(std::memory_order_relaxed);
    s.source_restarts = source_restarts_.load(std::memory_order_relaxed);
    s.source_dropped = source_dropped_.load(std::memory_order_relaxed);
    s.width = config_.width;
    s.height = config_.height;
    std::lock_guard lock(info_mutex_);
    s.encoder = info_.name;
    s.encoder_device = info_.device;
    s.encoder_reason = info_.reason;
    s.source = source_name_;
    return s;
  }

  const VideoConfig& config() const override { return config_; }

 private:
  bool stopping() {
    std::lock_guard lock(mutex_);
    return stopping_;
  }

  // Capture thread: the source's pictures into the mailbox (swapped, not copied).
  void capture() {
    std::string last_error;
    I420Frame picture;
    while (!stopping()) {
      std::string error;
      int64_t capture_us = 0;
      const RawSource::Result r = source_->next(&picture, &capture_us, &error);
      source_restarts_.store(source_->restarts(), std::memory_order_relaxed);
      source_dropped_.store(source_->dropped(), std::memory_order_relaxed);
      if (r == RawSource::Result::kEnd) break;
      if (r == RawSource::Result::kNone) {
        if (!error.empty() && error != last_error)
          std::fprintf(stderr, "[kvs-edge] WARN [video] %s (retrying)\n", error.c_str());
        if (!error.empty()) last_error = error;
        continue;
      }
      last_error.clear();
      {
        std::unique_lock lock(mutex_);
        taken_.wait(lock, [this] { return stopping_ || !fresh_; });
        if (stopping_) break;
        std::swap(mailbox_, picture);
        mailbox_us_ = capture_us;
        fresh_ = true;
      }
      wake_.notify_all();
    }
    std::lock_guard lock(mutex_);
    source_ended_ = true;
    wake_.notify_all();
  }

  // Encode thread: a new picture, or at once on a keyframe request the newest one again.
  void encode_loop() {
    bool have_picture = false;
    int64_t last_us = 0;
    for (;;) {
      int64_t capture_us = 0;
      bool immediate = false;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || fresh_ || source_ended_ || (keyframe_requested_ && have_picture); });
        if (stopping_ || (source_ended_ && !fresh_)) return;
        if (keyframe_requested_) {
          keyframe_requested_ = false;
          encoder_->request_keyframe();
        }
        if (fresh_) {
          std::swap(picture_, mailbox_);
          capture_us = mailbox_us_;
          fresh_ = false;
          taken_.notify_all();
        } else {
          // No newer picture: the IDR repeats the last one, 1 ms after it.
          capture_us = last_us + 1000;
          immediate = true;
        }
      }
      if (capture_us <= last_us) capture_us = last_us + 1;  // a source clock that stepped back
      have_picture = true;
      last_us = capture_us;
      if (immediate) immediate_keyframes_.fetch_add(1, std::memory_order_relaxed);
      encode(capture_us);
    }
  }

  void encode(int64_t capture_us) {
    const int kbps = target_kbps_.load(std::memory_order_relaxed);
    if (kbps != applied_kbps_ && encoder_->set_bitrate(kbps)) applied_kbps_ = kbps;
    std::string error;
    out_.clear();
    const bool ok = encoder_->encode(picture_, capture_us, &out_, &error);
    if (encoder_->take_info_change()) {
      H264EncoderInfo info = encoder_->info();
      std::fprintf(stderr, "[kvs-edge] WARN [video] encoder now %s: %s\n", info.name.c_str(), info.reason.c_str());
      std::lock_guard lock(info_mutex_);
      info_ = std::move(info);
    }
    if (!ok) {
      encode_errors_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (out_.empty()) frames_skipped_.fetch_add(1, std::memory_order_relaxed);
    for (EncodedFramePtr& f : out_) {
      f = with_capture_timestamp(config_, std::move(f));
      frames_encoded_.fetch_add(1, std::memory_order_relaxed);
      if (f->keyframe) keyframes_encoded_.fetch_add(1, std::memory_order_relaxed);
      bytes_encoded_.fetch_add(f->data.size(), std::memory_order_relaxed);
      try {
        on_frame_(std::move(f));
      } catch (...) {
        // A throwing consumer must not take the media thread (and the process) down.
      }
    }
  }

  static constexpr int kMaxBitrateKbps = VideoPipeline::kMaxBitrateKbps;

  VideoConfig config_;
  const FrameCallback on_frame_;

  std::unique_ptr<RawSource> source_;  // capture thread (interrupt() from any)
  // Encode thread only.
  std::unique_ptr<H264Encoder> encoder_;
  I420Frame picture_;
  std::vector<EncodedFramePtr> out_;
  int applied_kbps_;

  // Any thread.
  std::atomic<int> target_kbps_;
  std::atomic<uint64_t> frames_encoded_{0}, keyframes_encoded_{0}, bytes_encoded_{0},
      keyframe_requests_{0}, immediate_keyframes_{0}, frames_skipped_{0}, encode_errors_{0},
      source_restarts_{0}, source_dropped_{0};
  mutable std::mutex info_mutex_;
  H264EncoderInfo info_;
  std::string source_name_;

  std::mutex mutex_;  // guards the threads, the flags below and the mailbox
  std::condition_variable wake_;   // the encode thread: a picture, a keyframe request, stop
  std::condition_variable taken_;  // the capture thread: the mailbox is free again
  bool stopping_ = false;
  bool source_ended_ = false;
  bool keyframe_requested_ = false;
  bool fresh_ = false;  // the mailbox holds a picture not encoded yet
  I420Frame mailbox_;
  int64_t mailbox_us_ = 0;
  std::thread capture_thread_, encode_thread_;
};

}  // namespace

namespace {

std::vector<uint32_t> capture_formats(const std::string& name, std::string* error) {
  if (name.empty()) return {};
  const uint32_t f = v4l2_fourcc_from_name(name == "MJPEG" || name == "mjpeg" ? "MJPG" : name);
  if (!f) {
    *error = "invalid video config: captureFormat=\"" + name + "\" (supported: NV12, YU12/I420, YUYV, H264)";
    return {};
  }
  return {f};
}

}  // namespace

EncodedFramePtr with_capture_timestamp(const VideoConfig& config, EncodedFramePtr frame) {
  if (!config.capture_timestamps || !frame) return frame;
  auto copy = std::make_shared<EncodedFrame>(*frame);
  insert_timestamp_sei(&copy->data, static_cast<uint64_t>(monotonic_to_wall_us(frame->capture_time_us)));
  return copy;
}

bool VideoPipeline::validate(const VideoConfig& c, std::string* error) {
  if (c.source != "pattern" && c.source != "file" && c.source != "pipe" && c.source != "v4l2") {
    *error = "invalid video config: source=\"" + c.source + "\" (supported: \"pattern\", \"file\", \"pipe\", \"v4l2\")";
    return false;
  }
  if (c.source == "file" && c.path.empty()) {
    *error = "invalid video config: source \"file\" needs a path";
    return false;
  }
  if (c.source == "pipe" && c.command.empty()) {
    *error = "invalid video config: source \"pipe\" needs a command (argv)";
    return false;
  }
  if (c.source == "pipe" && c.pipe_format != "h264" && c.pipe_format != "i420" && c.pipe_format != "nv12" &&
      c.pipe_format != "yuyv") {
    *error = "invalid video config: pipe format=\"" + c.pipe_format + "\" (supported: \"h264\", \"i420\", \"nv12\", \"yuyv\")";
    return false;
  }
  if (c.source == "v4l2" && c.device.empty()) {
    *error = "invalid video config: source \"v4l2\" needs a device";
    return false;
  }
  if (c.encoder != "auto" && c.encoder != "openh264" && c.encoder != "v4l2m2m") {
    *error = "invalid video config: encoder=\"" + c.encoder + "\" (supported: \"auto\", \"openh264\", \"v4l2m2m\")";
    return false;
  }
  if (c.width < kMinWidth || c.width > kMaxWidth || c.width % 2 != 0) {
    *error = range_error("width", c.width, "must be even, 16..3840");
    return false;
  }
  if (c.height < kMinHeight || c.height > kMaxHeight || c.height % 2 != 0) {
    *error = range_error("height", c.height, "must be even, 16..2160");
    return false;
  }
  if (c.fps < kMinFps || c.fps > kMaxFps) {
    *error = range_error("fps", c.fps, "must be 1..120");
    return false;
  }
  if (c.bitrate_kbps <= 0 || c.bitrate_kbps > kMaxBitrateKbps) {
    *error = range_error("bitrate_kbps", c.bitrate_kbps, "must be 1..100000");
    return false;
  }
  if (c.keyframe_interval < 1) {
    *error = range_error("keyframe_interval", c.keyframe_interval, "must be at least 1");
    return false;
  }
  if (c.qp_min < 0 || c.qp_min > 51) {
    *error = range_error("qp_min", c.qp_min, "must be 1..51, or 0 for the encoder's default");
    return false;
  }
  if (c.qp_max < 0 || c.qp_max > 51) {
    *error = range_error("qp_max", c.qp_max, "must be 1..51, or 0 for the encoder's default");
    return false;
  }
  if (c.qp_min > 0 && c.qp_max > 0 && c.qp_min > c.qp_max) {
    *error = "invalid video config: qp_min=" + std::to_string(c.qp_min) + " is above qp_max=" + std::to_string(c.qp_max);
    return false;
  }
  return true;
}

std::unique_ptr<VideoPipeline> VideoPipeline::create(const VideoConfig& config,
                                                     FrameCallback on_frame, std::string* error) {
  std::string scratch;
  if (!error) error = &scratch;
  if (!validate(config, error)) return nullptr;
  if (!on_frame) {
    *error = "video pipeline: no frame callback";
    return nullptr;
  }
  if (config.source == "file" || (config.source == "pipe" && config.pipe_format == "h264"))
    return create_h264_stream(config, std::move(on_frame), error);

  std::unique_ptr<RawSource> source;
  if (config.source == "v4l2") {
    V4l2CaptureConfig cc;
    cc.device = config.device;
    cc.width = config.width;
    cc.height = config.height;
    cc.fps = config.fps;
    cc.timeout_ms = 250;  // bounded waits: stop() is noticed promptly
    error->clear();
    cc.formats = capture_formats(config.capture_format, error);
    if (!error->empty()) return nullptr;
    auto cap = std::make_unique<V4l2Capture>(cc);
    if (!cap->open(error)) return nullptr;
    if (cap->format() == V4L2_PIX_FMT_H264) return make_v4l2_h264_pipeline(config, std::move(cap), std::move(on_frame));
    if (cap->width() < kMinWidth || cap->height() < kMinHeight) {
      *error = config.device + " negotiated " + std::to_string(cap->width()) + "x" + std::to_string(cap->height()) + ", too small to encode";
      return nullptr;
    }
    source = make_v4l2_raw_source(std::move(cap), config);
  } else if (config.source == "pipe") {
    source = make_pipe_raw_source(config);
  } else {
    source = make_pattern_source(config);
  }

  H264EncoderSettings es;
  es.kind = config.encoder;
  es.device = config.encoder_device;
  es.quirks = config.encoder_quirks;
  es.cid_bitrate = config.encoder_cid_bitrate;
  es.cid_idr_period = config.encoder_cid_idr_period;
  es.width_align = config.encoder_width_align;
  es.height_align = config.encoder_height_align;
  es.width = source->width();
  es.height = source->height();
  es.fps = config.fps;
  es.bitrate_kbps = config.bitrate_kbps;
  es.keyframe_interval = config.keyframe_interval;
  es.qp_min = config.qp_min;
  es.qp_max = config.qp_max;
  auto encoder = open_h264_encoder(es, error);
  if (!encoder) return nullptr;
  return std::make_unique<EncodingVideoPipeline>(config, std::move(source), std::move(encoder), std::move(on_frame));
}

}  // namespace kvs::media
