// An audio pipeline: a synthetic tone, raw PCM or an Ogg Opus file -> Opus (RFC 6716) in 20 ms
// frames at 48 kHz, on its own media thread paced by CLOCK_MONOTONIC. One encoder whatever the
// number of listeners. G.711 (8 kHz) is made from the same PCM, only while a G.711 peer listens.
// An Ogg Opus file whose packets all last 20 ms is sent as it is (no re-encode; decoded only for
// G.711); other packet durations are decoded and re-encoded into 20 ms frames. Files loop.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace kvs::media {

struct AudioConfig {
  std::string source = "tone";  // "tone": a sine wave, with a short beep pattern each second;
                                // "pcm": raw s16le 48 kHz PCM from `path` (channels as below), looped;
                                // "ogg": an Ogg Opus file at `path` (channels from its OpusHead), looped
  std::string path;
  int frequency_hz = 440;
  int channels = 2;             // Opus in WebRTC is signaled as opus/48000/2
  int bitrate_bps = 32000;
};

struct EncodedAudio {
  std::vector<uint8_t> data;    // one Opus packet (20 ms)
  std::vector<uint8_t> pcmu, pcma;  // the same 20 ms as G.711 at 8 kHz (160 bytes each); empty
                                    // while no G.711 peer is subscribed
  uint32_t rtp_timestamp = 0;   // 48 kHz clock
  uint64_t index = 0;
};
using EncodedAudioPtr = std::shared_ptr<const EncodedAudio>;

struct AudioPipelineStats {
  uint64_t frames_encoded = 0;  // Opus frames produced (encoded, or passed through from a file)
  uint64_t bytes_encoded = 0;
  uint64_t g711_frames = 0;     // 20 ms frames also encoded as G.711
  uint64_t loops = 0;           // times a file source started over
  bool passthrough = false;     // Ogg Opus packets sent as they are
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
  virtual void set_g711(bool on) = 0;  // thread-safe: encode G.711 too (a G.711 peer listens)
};

// Fills one frame of the tone: `channels` interleaved s16 samples, frame `index` of the stream.
void render_tone(int frequency_hz, int channels, uint64_t index, int16_t* out);

}  // namespace kvs::media
