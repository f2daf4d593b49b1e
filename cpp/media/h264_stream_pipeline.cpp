// Passthrough pipelines for sources that already give H.264 Annex-B: a file (looped, paced at
// the configured rate), a command's stdout (e.g. `rpicam-vid --codec h264 -o -`, or a
// GStreamer `... ! h264parse ! fdsink` pipeline), started without a shell and restarted with
// backoff when it exits, or a V4L2 camera that captures H.264 (reopened when it fails). Access
// units come from the streaming AnnexBParser (SPS/PPS put in front of IDRs that lack them). A
// keyframe request cannot reach these sources: it is counted.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>

#include "annexb_parser.h"
#include "child_process.h"
#include "clock.h"
#include "pipeline_internal.h"
#include "video_pipeline.h"

namespace kvs::media {
namespace {

using Clock = std::chrono::steady_clock;

class H264StreamPipeline final : public VideoPipeline {
 public:
  H264StreamPipeline(const VideoConfig& c, FrameCallback cb, std::unique_ptr<V4l2Capture> capture = nullptr)
      : config_(c), on_frame_(std::move(cb)), capture_(std::move(capture)) {
    bitrate_ = c.bitrate_kbps;
    if (capture_) {
      config_.width = capture_->width();
      config_.height = capture_->height();
      source_ = "v4l2 " + c.device + " (" + capture_->driver() + ") H264 " + std::to_string(config_.width) + "x" +
                std::to_string(config_.height);
    } else if (c.source == "file") {
      source_ = "file \"" + c.path + "\" H264";
    } else {
      source_ = "pipe \"" + c.command[0] + "\" h264";
    }
  }
  ~H264StreamPipeline() override { stop(); }

  void start() override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (thread_.joinable()) return;
    stopping_ = false;
    thread_ = std::thread([this] {
      if (config_.source == "file") run_file();
      else if (capture_) run_v4l2();
      else run_pipe();
    });
  }

  void stop() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  }

  void request_keyframe() override { ++keyframe_requests_; }  // the source decides its GOP
  bool keyframes_on_request() const override { return false; }
  void set_bitrate(int kbps) override {
    if (kbps > 0) bitrate_ = kbps;  // informational: the source encodes
  }
  VideoPipelineStats stats() const override {
    VideoPipelineStats s;
    s.frames_encoded = frames_;
    s.keyframes_encoded = keyframes_;
    s.bytes_encoded = bytes_;
    s.keyframe_requests = keyframe_requests_;
    s.bitrate_kbps = bitrate_;
    s.encoder = "passthrough";
    s.encoder_reason = "the source gives H.264: passed through";
    s.source = source_;
    s.source_restarts = restarts_;
    s.source_dropped = capture_ ? dropped_.load() : 0;
    s.width = config_.width;
    s.height = config_.height;
    return s;
  }
  const VideoConfig& config() const override { return config_; }

 private:
  bool wait_for(std::chrono::microseconds d) {  // false when stopping
    std::unique_lock<std::mutex> lock(mutex_);
    return !wake_.wait_for(lock, d, [this] { return stopping_; });
  }
  bool stopping() {
    std::lock_guard<std::mutex> lock(mutex_);
    return stopping_;
  }

  void emit(H264AccessUnit& au, int64_t capture_us) {
    auto f = std::make_shared<EncodedFrame>();
    f->data = std::move(au.data);
    f->keyframe = au.keyframe;
    f->capture_time_us = capture_us;
    f->rtp_timestamp = static_cast<uint32_t>(capture_us * 9 / 100);
    f->width = static_cast<uint32_t>(config_.width);
    f->height = static_cast<uint32_t>(config_.height);
    f->index = frames_;
    ++frames_;
    if (f->keyframe) ++keyframes_;
    if (capture_) dropped_ = capture_->dropped();
    EncodedFramePtr out = with_capture_timestamp(config_, std::move(f));
    bytes_ += out->data.size();
    try {
      on_frame_(std::move(out));
    } catch (...) {
      // A throwing consumer must not take the media thread down.
    }
  }

  void run_file() {
    std::FILE* file = std::fopen(config_.path.c_str(), "rb");
    if (!file) {
      std::fprintf(stderr, "[kvs-edge] ERROR [video] cannot read H.264 file \"%s\": %s\n", config_.path.c_str(), std::strerror(errno));
      return;
    }
    auto period = std::chrono::microseconds(1000000 / config_.fps);
    auto next = Clock::now();
    std::vector<uint8_t> buf(64 * 1024);
    AnnexBParser parser;
    std::vector<H264AccessUnit> aus;
    bool any = false;
    while (!stopping()) {
      size_t n = std::fread(buf.data(), 1, buf.size(), file);
      if (n > 0) {
        parser.push(buf.data(), n, &aus);
      } else {
        parser.flush(&aus);
        if (!config_.loop && aus.empty()) break;  // played once
        std::rewind(file);  // loop
        parser = AnnexBParser();
        if (!any && aus.empty()) {
          std::fprintf(stderr, "[kvs-edge] ERROR [video] \"%s\" holds no H.264 access unit\n", config_.path.c_str());
          break;
        }
      }
      for (auto& au : aus) {
        any = true;
        next += period;
        if (!wait_for(std::chrono::duration_cast<std::chrono::microseconds>(next - Clock::now()))) break;
        emit(au, monotonic_us());
      }
      aus.clear();
    }
    std::fclose(file);
  }

  void run_pipe() {
    Backoff backoff;
    while (!stopping()) {
      ChildProcess child;
      std::string error;
      auto started = Clock::now();
      if (!child.start(config_.command, &error)) {
        std::fprintf(stderr, "[kvs-edge] ERROR [video] %s\n", error.c_str());
      } else {
        read_stream(child.stdout_fd());
        child.terminate();
        ++restarts_;
      }
      if (!wait_for(backoff.next(Clock::now() - started))) break;
    }
  }

  void read_stream(int fd) {
    std::vector<uint8_t> buf(64 * 1024);
    AnnexBParser parser;
    std::vector<H264AccessUnit> aus;
    while (!stopping()) {
      long n = ChildProcess::read_some(fd, buf.data(), buf.size(), 200);
      if (n == -1) continue;
      if (n <= 0) {
        parser.flush(&aus);
        for (auto& au : aus) emit(au, monotonic_us());
        return;  // the command exited or closed stdout
      }
      parser.push(buf.data(), static_cast<size_t>(n), &aus);
      for (auto& au : aus) emit(au, monotonic_us());
      aus.clear();
    }
  }

  // H.264 from a camera (UVC with H.264): every buffer is one chunk of the stream; the parser
  // finds access units, each stamped with the driver's time of the buffer that completed it.
  void run_v4l2() {
    AnnexBParser parser;
    std::vector<H264AccessUnit> aus;
    V4l2CapturedFrame frame;
    Backoff backoff;
    bool streaming = false;
    std::string last_error;
    while (!stopping()) {
      std::string error;
      if (!streaming) {
        if ((!capture_->is_open() && !capture_->open(&error)) || !capture_->start(&error)) {
          if (error != last_error) std::fprintf(stderr, "[kvs-edge] WARN [video] %s (retrying)\n", error.c_str());
          last_error = error;
          if (!wait_for(backoff.next(Clock::duration::zero()))) break;
          continue;
        }
        streaming = true;
        parser = AnnexBParser();
      }
      if (!capture_->read_frame(&frame, &error)) {
        if (error.find("no frame within") != std::string::npos || error.find("as corrupt") != std::string::npos) continue;
        std::fprintf(stderr, "[kvs-edge] WARN [video] %s (reopening)\n", error.c_str());
        capture_->close();
        streaming = false;
        ++restarts_;
        continue;
      }
      backoff = Backoff();
      const int64_t t = frame.monotonic && frame.timestamp_us > 0 ? frame.timestamp_us : monotonic_us();
      parser.push(frame.data.data(), frame.data.size(), &aus);
      for (auto& au : aus) emit(au, t);
      aus.clear();
    }
    capture_->stop();
  }

  VideoConfig config_;
  FrameCallback on_frame_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::unique_ptr<V4l2Capture> capture_;
  std::thread thread_;
  std::string source_;
  std::atomic<uint64_t> frames_{0}, keyframes_{0}, bytes_{0}, keyframe_requests_{0}, restarts_{0}, dropped_{0};
  std::atomic<int> bitrate_{0};
};

}  // namespace

std::unique_ptr<VideoPipeline> VideoPipeline::create_h264_stream(const VideoConfig& config, FrameCallback on_frame,
                                                                 std::string* error) {
  if (config.source == "file") {
    std::FILE* f = std::fopen(config.path.c_str(), "rb");
    if (!f) {
      *error = "invalid video config: path=\"" + config.path + "\" cannot be read: " + std::strerror(errno);
      return nullptr;
    }
    std::fclose(f);
  }
  return std::make_unique<H264StreamPipeline>(config, std::move(on_frame));
}

std::unique_ptr<VideoPipeline> make_v4l2_h264_pipeline(const VideoConfig& config, std::unique_ptr<V4l2Capture> capture,
                                                       VideoPipeline::FrameCallback on_frame) {
  return std::make_unique<H264StreamPipeline>(config, std::move(on_frame), std::move(capture));
}

}  // namespace kvs::media
