// VideoPipeline for the synthetic source: PatternSource -> OpenH264Encoder -> callback, on one
// media thread paced by CLOCK_MONOTONIC (std::chrono::steady_clock on Linux).
//
// Threads: start/stop/request_keyframe/set_bitrate/stats may be called from any thread (start
// and stop not concurrently with each other; stop from the frame callback only flags the thread
// to end). Encoder and source state belong to the media thread; other threads reach it only
// through atomics.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "openh264_encoder.h"
#include "pattern_source.h"
#include "video_pipeline.h"

namespace kvs::media {
namespace {

using Clock = std::chrono::steady_clock;

int64_t monotonic_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch())
      .count();
}

std::string range_error(const char* field, int value, const char* rule) {
  return std::string("invalid video config: ") + field + "=" + std::to_string(value) + " (" +
         rule + ")";
}

class PatternVideoPipeline final : public VideoPipeline {
 public:
  PatternVideoPipeline(const VideoConfig& config, std::unique_ptr<OpenH264Encoder> encoder,
                       FrameCallback on_frame)
      : config_(config),
        on_frame_(std::move(on_frame)),
        source_(config.width, config.height),
        encoder_(std::move(encoder)),
        applied_kbps_(config.bitrate_kbps),
        target_kbps_(config.bitrate_kbps) {}

  ~PatternVideoPipeline() override { stop(); }

  void start() override {
    std::lock_guard lock(mutex_);
    if (thread_.joinable()) return;
    stopping_ = false;
    thread_ = std::thread([this] { run(); });
  }

  void stop() override {
    std::thread thread;
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      if (thread_.get_id() == std::this_thread::get_id()) return;  // from the callback: no self-join
      thread = std::move(thread_);
    }
    wake_.notify_all();
    if (thread.joinable()) thread.join();
  }

  void request_keyframe() override {
    keyframe_requests_.fetch_add(1, std::memory_order_relaxed);
    keyframe_requested_.store(true, std::memory_order_release);
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
    s.bitrate_kbps = target_kbps_.load(std::memory_order_relaxed);
    s.frames_skipped = frames_skipped_.load(std::memory_order_relaxed);
    s.encode_errors = encode_errors_.load(std::memory_order_relaxed);
    return s;
  }

  const VideoConfig& config() const override { return config_; }

 private:
  // Frame n of a run is due at base + n/fps, computed from n (not by adding a rounded period)
  // so the schedule never drifts. Late frames are produced at once, none dropped; after a
  // stall of more than a second (e.g. a suspended process) the schedule restarts from now
  // instead of bursting to catch up.
  void run() {
    Clock::time_point base = Clock::now();
    uint64_t n = 0;  // frames produced since `base`
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      const auto due = base + std::chrono::nanoseconds(static_cast<int64_t>(n) * 1'000'000'000 /
                                                       config_.fps);
      if (wake_.wait_until(lock, due, [this] { return stopping_; })) break;
      lock.unlock();
      produce_frame();
      ++n;
      if (Clock::now() - due > std::chrono::seconds(1)) {
        base = Clock::now();
        n = 0;
      }
      lock.lock();
    }
  }

  void produce_frame() {
    const int kbps = target_kbps_.load(std::memory_order_relaxed);
    if (kbps != applied_kbps_ && encoder_->set_bitrate(kbps)) applied_kbps_ = kbps;
    if (keyframe_requested_.exchange(false, std::memory_order_acq_rel)) encoder_->request_keyframe();

    source_.render(source_frames_++, picture_);
    std::string error;
    EncodedFramePtr frame = encoder_->encode(picture_, monotonic_us(), &error);
    if (!frame) {
      (error.empty() ? frames_skipped_ : encode_errors_).fetch_add(1, std::memory_order_relaxed);
      return;
    }
    frames_encoded_.fetch_add(1, std::memory_order_relaxed);
    if (frame->keyframe) keyframes_encoded_.fetch_add(1, std::memory_order_relaxed);
    bytes_encoded_.fetch_add(frame->data.size(), std::memory_order_relaxed);
    try {
      on_frame_(std::move(frame));
    } catch (...) {
      // A throwing consumer must not take the media thread (and the process) down.
    }
  }

  static constexpr int kMaxBitrateKbps = VideoPipeline::kMaxBitrateKbps;

  const VideoConfig config_;
  const FrameCallback on_frame_;

  // Media thread only.
  PatternSource source_;
  std::unique_ptr<OpenH264Encoder> encoder_;
  I420Frame picture_;
  uint64_t source_frames_ = 0;
  int applied_kbps_;

  // Any thread.
  std::atomic<int> target_kbps_;
  std::atomic<bool> keyframe_requested_{false};
  std::atomic<uint64_t> frames_encoded_{0}, keyframes_encoded_{0}, bytes_encoded_{0},
      keyframe_requests_{0}, frames_skipped_{0}, encode_errors_{0};

  std::mutex mutex_;  // guards thread_ and stopping_
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace

bool VideoPipeline::validate(const VideoConfig& c, std::string* error) {
  if (c.source != "pattern" && c.source != "file" && c.source != "pipe") {
    *error = "invalid video config: source=\"" + c.source + "\" (supported: \"pattern\", \"file\", \"pipe\")";
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
  if (config.source == "file" || config.source == "pipe") return create_h264_stream(config, std::move(on_frame), error);
  EncoderConfig ec;
  ec.width = config.width;
  ec.height = config.height;
  ec.fps = config.fps;
  ec.bitrate_kbps = config.bitrate_kbps;
  ec.keyframe_interval = config.keyframe_interval;
  auto encoder = OpenH264Encoder::create(ec, error);
  if (!encoder) return nullptr;
  return std::make_unique<PatternVideoPipeline>(config, std::move(encoder), std::move(on_frame));
}

}  // namespace kvs::media
