// Talk-back sink: Opus packets from a viewer -> decoded PCM (48 kHz s16) -> a WAV file.
// Lost packets are concealed with Opus PLC (up to 100 ms at a time); the RIFF header is
// rewritten on close so the file is valid even if the call was long.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>

struct OpusDecoder;

namespace kvs::media {

class OpusWavSink {
 public:
  OpusWavSink() = default;
  ~OpusWavSink();
  OpusWavSink(const OpusWavSink&) = delete;
  OpusWavSink& operator=(const OpusWavSink&) = delete;

  // Opens (truncates) the file. Returns false and fills *error naming the path on failure.
  bool open(const std::string& path, int channels, std::string* error);
  bool is_open() const { return file_ != nullptr; }
  // One RTP packet's Opus payload with its sequence number.
  void push(const uint8_t* payload, size_t size, uint16_t sequence);
  // One RTP packet of G.711 (8 kHz mono), written at 48 kHz on every channel.
  void push_g711(const uint8_t* payload, size_t size, uint16_t sequence, bool alaw);
  void close();  // finalizes the header; idempotent

  uint64_t packets() const { return packets_; }
  uint64_t samples_written() const { return samples_; }  // per channel
  uint64_t decode_errors() const { return decode_errors_; }

 private:
  void write_header();
  void write_pcm(const int16_t* pcm, int frames);

  std::FILE* file_ = nullptr;
  OpusDecoder* decoder_ = nullptr;
  int channels_ = 2;
  bool have_seq_ = false;
  uint16_t last_seq_ = 0;
  uint64_t packets_ = 0, samples_ = 0, decode_errors_ = 0;
};

}  // namespace kvs::media
