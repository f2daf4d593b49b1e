// Talk-back sinks: the viewer's audio (RTP payloads of Opus, PCMU or PCMA) goes to
//   - "wav": decoded PCM, 48 kHz s16 stereo, in a WAV file (header rewritten on close);
//   - "ogg": an Ogg Opus file (RFC 7845). Opus packets are stored as received (no re-encode);
//            G.711 is decoded, resampled to 48 kHz and encoded to 20 ms Opus frames;
//   - "command": decoded PCM, s16le 48 kHz mono, written to a playback command's stdin (argv,
//            no shell; e.g. aplay -f S16_LE -r 48000 -c 1 -). The command is supervised: when it
//            exits it is started again with backoff (250 ms doubling to 8 s), and the audio that
//            arrives meanwhile is dropped and counted.
// Lost packets: Opus is concealed (PLC) for up to 100 ms in decoded sinks; the Ogg sink inserts
// 20 ms "lost frame" packets (a TOC byte alone, RFC 6716 3.2.1) for up to 1 s, so the granule
// positions stay continuous. All calls come from one thread (the network thread).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace kvs::media {

struct AudioSinkConfig {
  std::string kind;                  // "" (none), "wav", "ogg" or "command"
  std::string path;                  // wav, ogg
  std::vector<std::string> command;  // command: argv
  bool enabled() const { return !kind.empty(); }
};

struct AudioSinkStats {
  uint64_t packets = 0;        // RTP payloads taken (duplicates and late ones excluded)
  uint64_t bytes = 0;          // bytes of those payloads
  uint64_t samples = 0;        // 48 kHz samples (per channel) written: decoded, or Opus duration in Ogg
  uint64_t bytes_written = 0;  // bytes written to the file or to the command's stdin
  uint64_t decode_errors = 0;
  uint64_t dropped = 0;        // packets dropped because the command was down or not reading
  uint64_t restarts = 0;       // times the command was started again after it exited
};

enum class SinkCodec { kOpus, kPcmu, kPcma };

class AudioSink {
 public:
  // nullptr and *error naming the problem (bad kind, unwritable path, command that cannot start).
  static std::unique_ptr<AudioSink> open(const AudioSinkConfig& config, SinkCodec codec, std::string* error);
  virtual ~AudioSink() = default;
  // One RTP payload with its sequence number.
  void push(const uint8_t* payload, size_t size, uint16_t sequence);
  virtual void close() = 0;  // flushes and finalizes; idempotent
  AudioSinkStats stats() const { return stats_; }

 protected:
  explicit AudioSink(SinkCodec codec) : codec_(codec) {}
  // A packet in order; `lost` packets were missing just before it.
  virtual void on_packet(const uint8_t* payload, size_t size, int lost) = 0;
  SinkCodec codec_;
  AudioSinkStats stats_;

 private:
  bool have_seq_ = false;
  uint16_t last_seq_ = 0;
};

// G.711 at 8 kHz -> 48 kHz mono by linear interpolation; `prev` carries the last sample across
// packets. Appends size * 6 samples to *out.
void g711_to_48k(const uint8_t* payload, size_t size, bool alaw, int16_t* prev, std::vector<int16_t>* out);

}  // namespace kvs::media
