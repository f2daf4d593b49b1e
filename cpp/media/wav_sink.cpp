#include "wav_sink.h"

#include <opus/opus.h>

#include "g711.h"

#include <cstring>
#include <vector>

namespace kvs::media {
namespace {

constexpr int kRate = 48000;
constexpr int kMaxFrame = 5760;  // 120 ms at 48 kHz, the largest Opus frame

void le16(uint8_t* p, uint16_t v) { p[0] = v & 0xff; p[1] = v >> 8; }
void le32(uint8_t* p, uint32_t v) { for (int i = 0; i < 4; ++i) p[i] = (v >> (8 * i)) & 0xff; }

}  // namespace

OpusWavSink::~OpusWavSink() { close(); }

bool OpusWavSink::open(const std::string& path, int channels, std::string* error) {
  close();
  channels_ = channels;
  int err = 0;
  decoder_ = opus_decoder_create(kRate, channels, &err);
  if (err != OPUS_OK) {
    *error = std::string("cannot open the Opus decoder: ") + opus_strerror(err);
    decoder_ = nullptr;
    return false;
  }
  file_ = std::fopen(path.c_str(), "wb");
  if (!file_) {
    *error = "cannot write audio sink file \"" + path + "\": " + std::strerror(errno);
    opus_decoder_destroy(decoder_);
    decoder_ = nullptr;
    return false;
  }
  write_header();
  return true;
}

void OpusWavSink::write_header() {
  // RIFF/WAVE, PCM (format 1), 16-bit; sizes filled from samples_ (0 until close).
  uint8_t h[44];
  uint32_t data_bytes = static_cast<uint32_t>(samples_ * channels_ * 2);
  std::memcpy(h, "RIFF", 4);
  le32(h + 4, 36 + data_bytes);
  std::memcpy(h + 8, "WAVEfmt ", 8);
  le32(h + 16, 16);
  le16(h + 20, 1);
  le16(h + 22, static_cast<uint16_t>(channels_));
  le32(h + 24, kRate);
  le32(h + 28, kRate * channels_ * 2);
  le16(h + 32, static_cast<uint16_t>(channels_ * 2));
  le16(h + 34, 16);
  std::memcpy(h + 36, "data", 4);
  le32(h + 40, data_bytes);
  std::fseek(file_, 0, SEEK_SET);
  std::fwrite(h, 1, sizeof h, file_);
  std::fseek(file_, 0, SEEK_END);
}

void OpusWavSink::write_pcm(const int16_t* pcm, int frames) {
  std::fwrite(pcm, sizeof(int16_t), static_cast<size_t>(frames) * channels_, file_);
  samples_ += static_cast<uint64_t>(frames);
}

void OpusWavSink::push(const uint8_t* payload, size_t size, uint16_t sequence) {
  if (!file_) return;
  std::vector<int16_t> pcm(static_cast<size_t>(kMaxFrame) * channels_);
  if (have_seq_) {
    uint16_t gap = static_cast<uint16_t>(sequence - last_seq_);
    if (gap == 0 || gap > 0x8000) return;  // duplicate or late: dropped
    for (uint16_t lost = 1; lost < gap && lost <= 5; ++lost) {  // conceal up to 5 missing packets
      int n = opus_decode(decoder_, nullptr, 0, pcm.data(), 960, 0);
      if (n > 0) write_pcm(pcm.data(), n);
    }
  }
  have_seq_ = true;
  last_seq_ = sequence;
  ++packets_;
  int n = opus_decode(decoder_, payload, static_cast<opus_int32>(size), pcm.data(), kMaxFrame, 0);
  if (n < 0) {
    ++decode_errors_;
    return;
  }
  write_pcm(pcm.data(), n);
}

void OpusWavSink::push_g711(const uint8_t* payload, size_t size, uint16_t sequence, bool alaw) {
  if (!file_) return;
  if (have_seq_) {
    uint16_t gap = static_cast<uint16_t>(sequence - last_seq_);
    if (gap == 0 || gap > 0x8000) return;
  }
  have_seq_ = true;
  last_seq_ = sequence;
  ++packets_;
  std::vector<int16_t> pcm(size * 6 * channels_);
  for (size_t i = 0; i < size; ++i) {
    int16_t v = alaw ? alaw_to_linear(payload[i]) : ulaw_to_linear(payload[i]);
    for (size_t k = 0; k < 6 * static_cast<size_t>(channels_); ++k) pcm[i * 6 * channels_ + k] = v;
  }
  write_pcm(pcm.data(), static_cast<int>(size * 6));
}

void OpusWavSink::close() {
  if (file_) {
    write_header();
    std::fclose(file_);
    file_ = nullptr;
  }
  if (decoder_) {
    opus_decoder_destroy(decoder_);
    decoder_ = nullptr;
  }
}

}  // namespace kvs::media
