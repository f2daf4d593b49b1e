#include "raw_source.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>

#include "child_process.h"
#include "clock.h"
#include "pattern_source.h"
#include "v4l2_capture.h"
#include "v4l2_device.h"
#include "video_pipeline.h"

namespace kvs::media {
namespace {

using Clock = std::chrono::steady_clock;

// An interruptible sleep shared by the sources.
class Waiter {
 public:
  // false when interrupted.
  bool wait_until(Clock::time_point t) {
    std::unique_lock lock(m_);
    return !cv_.wait_until(lock, t, [this] { return interrupted_; });
  }
  bool wait_for(Clock::duration d) { return wait_until(Clock::now() + d); }
  void interrupt() {
    {
      std::lock_guard lock(m_);
      interrupted_ = true;
    }
    cv_.notify_all();
  }
  void reset() {
    std::lock_guard lock(m_);
    interrupted_ = false;
  }
  bool interrupted() {
    std::lock_guard lock(m_);
    return interrupted_;
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  bool interrupted_ = false;
};

// Frame n of a run is due at base + n/fps, computed from n so the schedule never drifts; after a
// stall of more than a second the schedule restarts from now instead of bursting to catch up.
class PatternRawSource final : public RawSource {
 public:
  explicit PatternRawSource(const VideoConfig& c) : fps_(c.fps), pattern_(c.width, c.height) {}
  Result next(I420Frame* picture, int64_t* capture_us, std::string*) override {
    if (!started_) {
      base_ = Clock::now();
      started_ = true;
    }
    const auto due = base_ + std::chrono::nanoseconds(static_cast<int64_t>(n_) * 1'000'000'000 / fps_);
    if (!waiter_.wait_until(due)) return Result::kNone;
    pattern_.render(frames_++, *picture);
    *capture_us = monotonic_us();
    ++n_;
    if (Clock::now() - due > std::chrono::seconds(1)) {
      base_ = Clock::now();
      n_ = 0;
    }
    return Result::kFrame;
  }
  void interrupt() override { waiter_.interrupt(); }
  void resume() override {
    waiter_.reset();
    started_ = false;
  }
  int width() const override { return pattern_.width(); }
  int height() const override { return pattern_.height(); }
  std::string describe() const override {
    return "pattern " + std::to_string(width()) + "x" + std::to_string(height()) + "@" + std::to_string(fps_);
  }

 private:
  int fps_;
  PatternSource pattern_;
  Waiter waiter_;
  bool started_ = false;
  Clock::time_point base_;
  uint64_t n_ = 0, frames_ = 0;
};

class V4l2RawSource final : public RawSource {
 public:
  V4l2RawSource(std::unique_ptr<V4l2Capture> cap, const VideoConfig& c) : cap_(std::move(cap)) {
    describe_ = "v4l2 " + c.device + " (" + cap_->driver() + ") " + v4l2_fourcc_name(cap_->format()) + " " +
                std::to_string(cap_->width()) + "x" + std::to_string(cap_->height());
    if (cap_->fps() > 0) describe_ += "@" + std::to_string(static_cast<int>(cap_->fps() + 0.5));
  }
  Result next(I420Frame* picture, int64_t* capture_us, std::string* error) override {
    if (waiter_.interrupted()) return Result::kNone;
    if (!streaming_) {
      // (Re)open after a failure: the device may come back (USB replug).
      if (!cap_->is_open() && !cap_->open(error)) return retry_later(error);
      if (!cap_->start(error)) return retry_later(error);
      streaming_ = true;
    }
    if (!cap_->read_frame(&frame_, error)) {
      if (error->find("no frame within") != std::string::npos) return Result::kNone;  // slow camera
      if (error->find("as corrupt") != std::string::npos) return Result::kNone;       // one bad frame
      cap_->close();
      streaming_ = false;
      ++restarts_;
      return retry_later(error);
    }
    backoff_ = Backoff();
    if (!convert_to_i420(frame_.format, frame_.data.data(), frame_.data.size(), frame_.width, frame_.height, picture)) {
      *error = "capture: cannot convert a " + v4l2_fourcc_name(frame_.format) + " frame";
      return Result::kNone;
    }
    // Driver timestamps are CLOCK_MONOTONIC on every current driver; anything else is replaced
    // by the time we got the frame.
    *capture_us = frame_.monotonic && frame_.timestamp_us > 0 ? frame_.timestamp_us : monotonic_us();
    return Result::kFrame;
  }
  void interrupt() override { waiter_.interrupt(); }
  void resume() override { waiter_.reset(); }
  int width() const override { return cap_->width() & ~1; }
  int height() const override { return cap_->height() & ~1; }
  std::string describe() const override { return describe_; }
  uint64_t restarts() const override { return restarts_; }
  uint64_t dropped() const override { return cap_->dropped(); }

 private:
  Result retry_later(std::string* error) {
    waiter_.wait_for(backoff_.next(Clock::duration::zero()));
    return Result::kNone;
  }
  std::unique_ptr<V4l2Capture> cap_;
  V4l2CapturedFrame frame_;
  Waiter waiter_;
  Backoff backoff_;
  bool streaming_ = false;
  std::string describe_;
  uint64_t restarts_ = 0;
};

class PipeRawSource final : public RawSource {
 public:
  explicit PipeRawSource(const VideoConfig& c)
      : config_(c), fourcc_(v4l2_fourcc_from_name(c.pipe_format == "i420" ? "YU12" : c.pipe_format == "nv12" ? "NV12" : "YUYV")) {
    frame_.resize(v4l2_packed_frame_size(fourcc_, c.width, c.height));
  }
  Result next(I420Frame* picture, int64_t* capture_us, std::string* error) override {
    if (waiter_.interrupted()) return Result::kNone;
    if (child_.stdout_fd() < 0) {
      if (!child_.start(config_.command, error)) {
        waiter_.wait_for(backoff_.next(Clock::duration::zero()));
        return Result::kNone;
      }
      started_ = Clock::now();
      filled_ = 0;
    }
    while (filled_ < frame_.size()) {
      long n = ChildProcess::read_some(child_.stdout_fd(), frame_.data() + filled_, frame_.size() - filled_, 200);
      if (n == -1) return Result::kNone;  // nothing yet: let the pipeline check for stop
      if (n <= 0) {  // the command exited (or closed stdout): restart it after a backoff
        *error = "pipe source: \"" + config_.command[0] + "\" ended" +
                 (filled_ ? " in the middle of a frame (" + std::to_string(filled_) + " of " + std::to_string(frame_.size()) + " bytes)" : "");
        child_.terminate();
        ++restarts_;
        waiter_.wait_for(backoff_.next(Clock::now() - started_));
        return Result::kNone;
      }
      filled_ += static_cast<size_t>(n);
    }
    filled_ = 0;
    convert_to_i420(fourcc_, frame_.data(), frame_.size(), config_.width, config_.height, picture);
    *capture_us = monotonic_us();
    return Result::kFrame;
  }
  void interrupt() override { waiter_.interrupt(); }
  void resume() override { waiter_.reset(); }
  int width() const override { return config_.width; }
  int height() const override { return config_.height; }
  std::string describe() const override {
    return "pipe \"" + config_.command[0] + "\" " + config_.pipe_format + " " + std::to_string(config_.width) + "x" +
           std::to_string(config_.height);
  }
  uint64_t restarts() const override { return restarts_; }

 private:
  VideoConfig config_;
  uint32_t fourcc_;
  ChildProcess child_;
  std::vector<uint8_t> frame_;
  size_t filled_ = 0;
  Waiter waiter_;
  Backoff backoff_;
  Clock::time_point started_;
  uint64_t restarts_ = 0;
};

}  // namespace

bool convert_to_i420(uint32_t fourcc, const uint8_t* data, size_t size, int width, int height, I420Frame* out) {
  V4l2Chroma ch;
  if (!v4l2_raw_chroma(fourcc, &ch) || width < 2 || height < 2) return false;
  if (size < v4l2_packed_frame_size(fourcc, width, height)) return false;
  const int w = width & ~1, h = height & ~1;
  if (out->width != w || out->height != h) out->allocate(w, h);
  uint8_t *y = out->y(), *u = out->u(), *v = out->v();
  const size_t cw = static_cast<size_t>(width + 1) / 2, ch_rows = static_cast<size_t>(height + 1) / 2;
  switch (ch) {
    case V4l2Chroma::kPlanar420: {
      const uint8_t* sy = data;
      const uint8_t* su = sy + size_t(width) * height;
      const uint8_t* sv = su + cw * ch_rows;
      for (int r = 0; r < h; ++r) memcpy(y + size_t(r) * w, sy + size_t(r) * width, w);
      for (int r = 0; r < h / 2; ++r) {
        memcpy(u + size_t(r) * (w / 2), su + r * cw, w / 2);
        memcpy(v + size_t(r) * (w / 2), sv + r * cw, w / 2);
      }
      break;
    }
    case V4l2Chroma::kInterleaved420: {
      const uint8_t* sy = data;
      const uint8_t* suv = sy + size_t(width) * height;
      const size_t uv_stride = 2 * cw;
      for (int r = 0; r < h; ++r) memcpy(y + size_t(r) * w, sy + size_t(r) * width, w);
      for (int r = 0; r < h / 2; ++r) {
        const uint8_t* s = suv + r * uv_stride;
        uint8_t* du = u + size_t(r) * (w / 2);
        uint8_t* dv = v + size_t(r) * (w / 2);
        for (int c = 0; c < w / 2; ++c) {
          du[c] = s[2 * c];
          dv[c] = s[2 * c + 1];
        }
      }
      break;
    }
    case V4l2Chroma::kPacked422: {
      // Y0 U Y1 V; chroma of two lines averaged down to 4:2:0.
      const size_t stride = 2 * size_t(width);
      for (int r = 0; r < h; ++r) {
        const uint8_t* s = data + r * stride;
        uint8_t* dy = y + size_t(r) * w;
        for (int c = 0; c < w; ++c) dy[c] = s[2 * c];
      }
      for (int r = 0; r < h / 2; ++r) {
        const uint8_t* s0 = data + size_t(2 * r) * stride;
        const uint8_t* s1 = s0 + stride;
        uint8_t* du = u + size_t(r) * (w / 2);
        uint8_t* dv = v + size_t(r) * (w / 2);
        for (int c = 0; c < w / 2; ++c) {
          du[c] = static_cast<uint8_t>((s0[4 * c + 1] + s1[4 * c + 1] + 1) / 2);
          dv[c] = static_cast<uint8_t>((s0[4 * c + 3] + s1[4 * c + 3] + 1) / 2);
        }
      }
      break;
    }
  }
  return true;
}

std::unique_ptr<RawSource> make_pattern_source(const VideoConfig& c) { return std::make_unique<PatternRawSource>(c); }
std::unique_ptr<RawSource> make_v4l2_raw_source(std::unique_ptr<V4l2Capture> cap, const VideoConfig& c) {
  return std::make_unique<V4l2RawSource>(std::move(cap), c);
}
std::unique_ptr<RawSource> make_pipe_raw_source(const VideoConfig& c) { return std::make_unique<PipeRawSource>(c); }

}  // namespace kvs::media
