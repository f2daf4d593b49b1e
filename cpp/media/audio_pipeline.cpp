#include "audio_pipeline.h"

#include <opus/opus.h>

#include "g711.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>

namespace kvs::media {
namespace {

using Clock = std::chrono::steady_clock;

struct OpusEncoderDeleter {
  void operator()(OpusEncoder* e) const { opus_encoder_destroy(e); }
};

class ToneOpusPipeline final : public AudioPipeline {
 public:
  ToneOpusPipeline(const AudioConfig& config, FrameCallback cb, std::unique_ptr<OpusEncoder, OpusEncoderDeleter> enc)
      : config_(config), on_frame_(std::move(cb)), encoder_(std::move(enc)) {}
  ~ToneOpusPipeline() override {
    stop();
    if (pcm_file_) std::fclose(pcm_file_);
  }

  void start() override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (thread_.joinable()) return;
    stopping_ = false;
    thread_ = std::thread([this] { run(); });
  }

  void stop() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  }

  AudioPipelineStats stats() const override {
    AudioPipelineStats s;
    s.frames_encoded = frames_;
    s.bytes_encoded = bytes_;
    return s;
  }

 private:
  void run() {
    std::vector<int16_t> pcm(kFrameSamples * config_.channels);
    uint8_t packet[1500];
    auto start = Clock::now();
    uint64_t index = 0;
    for (;;) {
      auto due = start + std::chrono::microseconds(index * 20000);
      {
        std::unique_lock<std::mutex> lock(mutex_);
        if (wake_.wait_until(lock, due, [this] { return stopping_; })) return;
      }
      if (Clock::now() - due > std::chrono::seconds(1)) {  // stalled: restart the schedule
        start = Clock::now();
        index_offset_ += index;
        index = 0;
        continue;
      }
      uint64_t n = index_offset_ + index;
      if (pcm_file_) read_pcm(pcm.data());
      else render_tone(config_.frequency_hz, config_.channels, n, pcm.data());
      int len = opus_encode(encoder_.get(), pcm.data(), kFrameSamples, packet, sizeof packet);
      ++index;
      if (len <= 0) continue;
      auto frame = std::make_shared<EncodedAudio>();
      frame->data.assign(packet, packet + len);
      frame->pcmu.resize(160);
      frame->pcma.resize(160);
      encode_g711_from_48k(pcm.data(), config_.channels, false, frame->pcmu.data());
      encode_g711_from_48k(pcm.data(), config_.channels, true, frame->pcma.data());
      frame->rtp_timestamp = static_cast<uint32_t>(n * kFrameSamples);
      frame->index = n;
      ++frames_;
      bytes_ += static_cast<uint64_t>(len);
      on_frame_(std::move(frame));
    }
  }

  // One frame from the PCM file; at its end, back to the start (a short file loops).
  void read_pcm(int16_t* out) {
    size_t want = static_cast<size_t>(kFrameSamples) * config_.channels;
    size_t got = std::fread(out, sizeof(int16_t), want, pcm_file_);
    if (got < want) {
      std::rewind(pcm_file_);
      got += std::fread(out + got, sizeof(int16_t), want - got, pcm_file_);
      if (got < want) std::fill(out + got, out + want, static_cast<int16_t>(0));
    }
  }

 public:
  std::FILE* pcm_file_ = nullptr;  // owned; set by create() for source "pcm"

 private:
  AudioConfig config_;
  FrameCallback on_frame_;
  std::unique_ptr<OpusEncoder, OpusEncoderDeleter> encoder_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
  uint64_t index_offset_ = 0;
  std::atomic<uint64_t> frames_{0}, bytes_{0};
};

}  // namespace

void render_tone(int frequency_hz, int channels, uint64_t index, int16_t* out) {
  // A 440 Hz tone that beeps: on for the first 300 ms of every second, quiet otherwise, so a
  // listener (and a test) can tell it apart from silence and from a constant hum.
  constexpr double kTwoPi = 6.283185307179586;
  for (int i = 0; i < AudioPipeline::kFrameSamples; ++i) {
    uint64_t t = index * AudioPipeline::kFrameSamples + static_cast<uint64_t>(i);
    bool on = (t % AudioPipeline::kSampleRate) < AudioPipeline::kSampleRate * 3 / 10;
    double v = on ? 0.4 * std::sin(kTwoPi * frequency_hz * static_cast<double>(t) / AudioPipeline::kSampleRate) : 0.0;
    auto s = static_cast<int16_t>(v * 32767);
    for (int c = 0; c < channels; ++c) out[i * channels + c] = s;
  }
}

std::unique_ptr<AudioPipeline> AudioPipeline::create(const AudioConfig& config, FrameCallback on_frame,
                                                     std::string* error) {
  if (config.source != "tone" && config.source != "pcm") {
    *error = "invalid audio config: source=\"" + config.source + "\" (supported: tone, pcm)";
    return nullptr;
  }
  std::FILE* pcm = nullptr;
  if (config.source == "pcm") {
    pcm = std::fopen(config.path.c_str(), "rb");
    if (!pcm) {
      *error = "invalid audio config: path=\"" + config.path + "\" cannot be read: " + std::strerror(errno);
      return nullptr;
    }
    std::fseek(pcm, 0, SEEK_END);
    long size = std::ftell(pcm);
    std::rewind(pcm);
    if (size < static_cast<long>(kFrameSamples * config.channels * sizeof(int16_t))) {
      std::fclose(pcm);
      *error = "invalid audio config: path=\"" + config.path + "\" holds less than 20 ms of 48 kHz s16le PCM";
      return nullptr;
    }
  }
  if (config.frequency_hz < 20 || config.frequency_hz > 20000) {
    *error = "invalid audio config: frequency=" + std::to_string(config.frequency_hz) + " (must be 20..20000 Hz)";
    return nullptr;
  }
  if (config.channels != 1 && config.channels != 2) {
    *error = "invalid audio config: channels=" + std::to_string(config.channels) + " (must be 1 or 2)";
    return nullptr;
  }
  if (config.bitrate_bps < 6000 || config.bitrate_bps > 510000) {
    *error = "invalid audio config: bitrate=" + std::to_string(config.bitrate_bps) + " (must be 6000..510000 bps)";
    return nullptr;
  }
  int err = 0;
  std::unique_ptr<OpusEncoder, OpusEncoderDeleter> enc(
      opus_encoder_create(kSampleRate, config.channels, OPUS_APPLICATION_VOIP, &err));
  if (err != OPUS_OK || !enc) {
    *error = std::string("cannot open the Opus encoder: ") + opus_strerror(err);
    return nullptr;
  }
  opus_encoder_ctl(enc.get(), OPUS_SET_BITRATE(config.bitrate_bps));
  opus_encoder_ctl(enc.get(), OPUS_SET_INBAND_FEC(1));
  auto pipeline = std::make_unique<ToneOpusPipeline>(config, std::move(on_frame), std::move(enc));
  pipeline->pcm_file_ = pcm;
  return pipeline;
}

}  // namespace kvs::media
