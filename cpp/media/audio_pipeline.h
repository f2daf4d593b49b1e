// An audio pipeline: a synthetic tone -> Opus (RFC 6716) in 20 ms frames at 48 kHz, on its own
// media thread paced by CLOCK_MONOTONIC. One encoder whatever the number of listeners.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace kvs::media {

struct AudioConfig {
  std::string source = "tone";  // "tone": a sine wave, with a short beep pattern each second;
                                // "pcm": raw s16le 48 kHz PCM from `path` (channels as below), looped
  std::string path;
  int frequency_hz = 440;
  int channels = 2;             // Opus in WebRTC is signaled as opus/48000/2
  int bitrate_bps = 32000;
};

struct EncodedAudio {
  std::vector<uint8_t> data;    // one Opus packet (20 ms)
  std::vector<uint8_t> pcmu, pcma;  // the same 20 ms as G.711 at 8 kHz (160 bytes each)
  uint32_t rtp_timestamp = 0;   // 48 kHz clock
  uint64_t index = 0;
};
using EncodedAudioPtr = std::shared_ptr<const EncodedAudio>;

struct AudioPipelineStats {
  uint64_t frames_encoded = 0;
  uint64_t bytes_encoded = 0;
};

class AudioPipeline {
 public:
  using FrameCallback = std::function<void(EncodedAudioPtr)>;  // media thread
  static constexpr int kSampleRate = 48000;
  static constexpr int kFrameSamples = 960;  // 20 ms

  // nullptr + *error (naming the field) when the config is refused or Opus cannot be opened.
  static std::unique_ptr<AudioPipeline> create(const AudioConfig& config, FrameCallback on_frame,
                                               std::string* error);
  virtual ~AudioPipeline() = default;
  virtual void start() = 0;  // idempotent
  virtual void stop() = 0;   // joins; idempotent
  virtual AudioPipelineStats stats() const = 0;
};

// Fills one frame of the tone: `channels` interleaved s16 samples, frame `index` of the stream.
void render_tone(int frequency_hz, int channels, uint64_t index, int16_t* out);

}  // namespace kvs::media
