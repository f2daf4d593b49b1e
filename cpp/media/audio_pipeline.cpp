#include "audio_pipeline.h"

#include <opus/opus.h>

#include "g711.h"
#include "ogg.h"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>
#include <algorithm>

namespace kvs::media {
namespace {

using Clock = std::chrono::steady_clock;

struct OpusEncoderDeleter {
  void operator()(OpusEncoder* e) const { opus_encoder_destroy(e); }
};
struct OpusDecoderDeleter {
  void operator()(OpusDecoder* d) const { opus_decoder_destroy(d); }
};
using EncoderPtr = std::unique_ptr<OpusEncoder, OpusEncoderDeleter>;
using DecoderPtr = std::unique_ptr<OpusDecoder, OpusDecoderDeleter>;

constexpr size_t kMaxOggFile = 64u << 20;  // 64 MiB: about an hour of 128 kbps Opus

// The audio packets of an Ogg Opus file, checked once at load.
struct OggOpusFile {
  OpusHead head;
  std::vector<std::vector<uint8_t>> packets;
  bool all_20ms = true;
};

bool load_ogg_opus(const std::string& path, OggOpusFile* out, std::string* error) {
  auto fail = [&](const std::string& what) {
    *error = "invalid audio config: path=\"" + path + "\" is not a usable Ogg Opus file: " + what;
    return false;
  };
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    *error = "invalid audio config: path=\"" + path + "\" cannot be read: " + std::strerror(errno);
    return false;
  }
  std::vector<uint8_t> bytes;
  uint8_t buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    bytes.insert(bytes.end(), buf, buf + n);
    if (bytes.size() > kMaxOggFile) {
      std::fclose(f);
      return fail("larger than 64 MiB");
    }
  }
  std::fclose(f);
  std::string why;
  if (!parse_ogg_opus(bytes.data(), bytes.size(), &out->head, &out->packets, &why)) return fail(why);
  for (const auto& p : out->packets)
    if (opus_packet_get_nb_samples(p.data(), static_cast<opus_int32>(p.size()), AudioPipeline::kSampleRate) != AudioPipeline::kFrameSamples)
      out->all_20ms = false;
  return true;
}

class OpusPipeline final : public AudioPipeline {
 public:
  OpusPipeline(const AudioConfig& config, FrameCallback cb, EncoderPtr enc)
      : config_(config), on_frame_(std::move(cb)), encoder_(std::move(enc)) {}
  ~OpusPipeline() override {
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
    s.g711_frames = g711_frames_;
    s.loops = loops_;
    s.passthrough = passthrough_;
    return s;
  }

  void set_g711(bool on) override { g711_ = on; }

  std::FILE* pcm_file_ = nullptr;  // owned; set by create() for source "pcm"
  OggOpusFile ogg_;                // source "ogg"
  DecoderPtr decoder_;             // source "ogg": re-encode, or G.711 in passthrough
  bool passthrough_ = false;
  int skip_ = 0;                   // source "ogg": samples still to drop (OpusHead pre-skip)

 private:
  int channels() const { return config_.source == "ogg" ? ogg_.head.channels : config_.channels; }

  void run() {
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
      ++index;
      auto frame = std::make_shared<EncodedAudio>();
      if (!produce(n, frame.get())) continue;
      frame->rtp_timestamp = static_cast<uint32_t>(n * kFrameSamples);
      frame->index = n;
      ++frames_;
      bytes_ += frame->data.size();
      on_frame_(std::move(frame));
    }
  }

  // One 20 ms frame: Opus, and G.711 when a G.711 peer listens. False when nothing was made.
  bool produce(uint64_t n, EncodedAudio* frame) {
    const int ch = channels();
    pcm_.resize(static_cast<size_t>(kFrameSamples) * ch);
    const bool g711 = g711_;
    if (passthrough_) {
      const auto& packet = ogg_.packets[next_packet_];
      frame->data = packet;
      if (++next_packet_ == ogg_.packets.size()) rewind();
      if (g711) {
        int got = opus_decode(decoder_.get(), packet.data(), static_cast<opus_int32>(packet.size()), pcm_.data(), kFrameSamples, 0);
        if (got == kFrameSamples) add_g711(frame, ch);
      }
      return true;
    }
    if (config_.source == "ogg") decode_ogg_frame(pcm_.data());
    else if (pcm_file_) read_pcm(pcm_.data());
    else render_tone(config_.frequency_hz, ch, n, pcm_.data());
    uint8_t packet[1500];
    int len = opus_encode(encoder_.get(), pcm_.data(), kFrameSamples, packet, sizeof packet);
    if (len <= 0) return false;
    frame->data.assign(packet, packet + len);
    if (g711) add_g711(frame, ch);
    return true;
  }

  void add_g711(EncodedAudio* frame, int ch) {
    frame->pcmu.resize(160);
    frame->pcma.resize(160);
    encode_g711_from_48k(pcm_.data(), ch, false, frame->pcmu.data());
    encode_g711_from_48k(pcm_.data(), ch, true, frame->pcma.data());
    ++g711_frames_;
  }

  void rewind() {
    next_packet_ = 0;
    skip_ = ogg_.head.pre_skip;
    opus_decoder_ctl(decoder_.get(), OPUS_RESET_STATE);
    ++loops_;
  }

  // Re-encode: decoded file PCM (pre-skip dropped) cut into 20 ms frames, looping at the end.
  void decode_ogg_frame(int16_t* out) {
    const int ch = ogg_.head.channels;
    const size_t want = static_cast<size_t>(kFrameSamples) * ch;
    std::vector<int16_t> buf(5760 * static_cast<size_t>(ch));
    for (int guard = 0; fifo_.size() < want && guard < 2 * static_cast<int>(ogg_.packets.size()) + 2; ++guard) {
      const auto& packet = ogg_.packets[next_packet_];
      if (++next_packet_ == ogg_.packets.size()) rewind();
      int got = opus_decode(decoder_.get(), packet.data(), static_cast<opus_int32>(packet.size()), buf.data(), 5760, 0);
      if (got <= 0) continue;
      int from = std::min(got, skip_);
      skip_ -= from;
      fifo_.insert(fifo_.end(), buf.begin() + from * ch, buf.begin() + got * ch);
    }
    size_t take = std::min(want, fifo_.size());
    std::copy(fifo_.begin(), fifo_.begin() + static_cast<std::ptrdiff_t>(take), out);
    std::fill(out + take, out + want, static_cast<int16_t>(0));
    fifo_.erase(fifo_.begin(), fifo_.begin() + static_cast<std::ptrdiff_t>(take));
  }

  // One frame from the PCM file; at its end, back to the start (a short file loops).
  void read_pcm(int16_t* out) {
    size_t want = static_cast<size_t>(kFrameSamples) * config_.channels;
    size_t got = std::fread(out, sizeof(int16_t), want, pcm_file_);
    if (got < want) {
      std::rewind(pcm_file_);
      ++loops_;
      got += std::fread(out + got, sizeof(int16_t), want - got, pcm_file_);
      if (got < want) std::fill(out + got, out + want, static_cast<int16_t>(0));
    }
  }

  AudioConfig config_;
  FrameCallback on_frame_;
  EncoderPtr encoder_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
  uint64_t index_offset_ = 0;
  std::vector<int16_t> pcm_, fifo_;
  size_t next_packet_ = 0;
  std::atomic<bool> g711_{false};
  std::atomic<uint64_t> frames_{0}, bytes_{0}, g711_frames_{0}, loops_{0};
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
  if (config.source != "tone" && config.source != "pcm" && config.source != "ogg") {
    *error = "invalid audio config: source=\"" + config.source + "\" (supported: tone, pcm, ogg)";
    return nullptr;
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
  if ((config.source == "pcm" || config.source == "ogg") && config.path.empty()) {
    *error = "invalid audio config: source \"" + config.source + "\" needs a path";
    return nullptr;
  }
  OggOpusFile ogg;
  if (config.source == "ogg" && !load_ogg_opus(config.path, &ogg, error)) return nullptr;
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
  const int channels = config.source == "ogg" ? ogg.head.channels : config.channels;
  int err = 0;
  EncoderPtr enc(opus_encoder_create(kSampleRate, channels, OPUS_APPLICATION_VOIP, &err));
  if (err != OPUS_OK || !enc) {
    if (pcm) std::fclose(pcm);
    *error = std::string("cannot open the Opus encoder: ") + opus_strerror(err);
    return nullptr;
  }
  opus_encoder_ctl(enc.get(), OPUS_SET_BITRATE(config.bitrate_bps));
  opus_encoder_ctl(enc.get(), OPUS_SET_INBAND_FEC(1));
  auto pipeline = std::make_unique<OpusPipeline>(config, std::move(on_frame), std::move(enc));
  pipeline->pcm_file_ = pcm;
  if (config.source == "ogg") {
    DecoderPtr dec(opus_decoder_create(kSampleRate, channels, &err));
    if (err != OPUS_OK || !dec) {
      *error = std::string("cannot open the Opus decoder: ") + opus_strerror(err);
      return nullptr;
    }
    pipeline->decoder_ = std::move(dec);
    pipeline->passthrough_ = ogg.all_20ms;
    pipeline->skip_ = ogg.head.pre_skip;
    pipeline->ogg_ = std::move(ogg);
  }
  return pipeline;
}

}  // namespace kvs::media
