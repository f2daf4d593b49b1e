// Passthrough pipelines for sources that already give H.264 Annex-B: a file (looped, paced at
// the configured rate) or a command's stdout (e.g. `rpicam-vid --codec h264 -o -`, or a
// GStreamer `... ! h264parse ! fdsink` pipeline), started without a shell and restarted with
// backoff when it exits. Access units come from the streaming AnnexBParser (SPS/PPS put in
// front of IDRs that lack them). A keyframe request cannot reach these sources: it is counted.
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
#include "video_pipeline.h"

extern char** environ;

namespace kvs::media {
namespace {

using Clock = std::chrono::steady_clock;

int64_t monotonic_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch()).count();
}

class H264StreamPipeline final : public VideoPipeline {
 public:
  H264StreamPipeline(const VideoConfig& c, FrameCallback cb) : config_(c), on_frame_(std::move(cb)) {
    bitrate_ = c.bitrate_kbps;
  }
  ~H264StreamPipeline() override { stop(); }

  void start() override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (thread_.joinable()) return;
    stopping_ = false;
    thread_ = std::thread([this] { config_.source == "file" ? run_file() : run_pipe(); });
  }

  void stop() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
      if (child_ > 0) kill(child_, SIGTERM);
    }
    wake_.notify_all();
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  }

  void request_keyframe() override { ++keyframe_requests_; }  // the source decides its GOP
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
    bytes_ += f->data.size();
    on_frame_(std::move(f));
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
    auto backoff = std::chrono::milliseconds(500);
    while (!stopping()) {
      int fds[2];
      if (pipe2(fds, O_CLOEXEC) != 0) return;
      posix_spawn_file_actions_t actions;
      posix_spawn_file_actions_init(&actions);
      posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
      std::vector<char*> argv;
      for (auto& a : config_.command) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      pid_t pid = 0;
      int rc = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
      posix_spawn_file_actions_destroy(&actions);
      close(fds[1]);
      if (rc != 0) {
        std::fprintf(stderr, "[kvs-edge] ERROR [video] cannot start \"%s\": %s\n", argv[0], std::strerror(rc));
        close(fds[0]);
      } else {
        {
          std::lock_guard<std::mutex> lock(mutex_);
          child_ = pid;
        }
        auto started = Clock::now();
        read_stream(fds[0]);
        close(fds[0]);
        {
          std::lock_guard<std::mutex> lock(mutex_);
          child_ = -1;
        }
        kill(pid, SIGTERM);
        waitpid(pid, nullptr, 0);
        ++restarts_;
        if (Clock::now() - started > std::chrono::seconds(10)) backoff = std::chrono::milliseconds(500);
      }
      if (!wait_for(backoff)) break;
      backoff = std::min(backoff * 2, std::chrono::milliseconds(10000));
    }
  }

  void read_stream(int fd) {
    std::vector<uint8_t> buf(64 * 1024);
    AnnexBParser parser;
    std::vector<H264AccessUnit> aus;
    while (!stopping()) {
      pollfd p{fd, POLLIN, 0};
      int r = poll(&p, 1, 200);
      if (r < 0 && errno != EINTR) return;
      if (r <= 0) continue;
      ssize_t n = read(fd, buf.data(), buf.size());
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

  VideoConfig config_;
  FrameCallback on_frame_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  pid_t child_ = -1;
  std::thread thread_;
  std::atomic<uint64_t> frames_{0}, keyframes_{0}, bytes_{0}, keyframe_requests_{0}, restarts_{0};
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

}  // namespace kvs::media
