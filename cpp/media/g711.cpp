#include "g711.h"

#include <algorithm>

namespace kvs::media {

// Segment-based companding as in G.711 section 2 (mu-law bias 0x84, clip 32635).
uint8_t linear_to_ulaw(int16_t sample) {
  constexpr int kBias = 0x84, kClip = 32635;
  int s = sample;
  int sign = (s >> 8) & 0x80;
  if (sign) s = -s;
  s = std::min(s, kClip) + kBias;
  int exponent = 7;
  for (int mask = 0x4000; (s & mask) == 0 && exponent > 0; mask >>= 1) --exponent;
  int mantissa = (s >> (exponent + 3)) & 0x0f;
  return static_cast<uint8_t>(~(sign | (exponent << 4) | mantissa));
}

int16_t ulaw_to_linear(uint8_t code) {
  code = static_cast<uint8_t>(~code);
  int sign = code & 0x80, exponent = (code >> 4) & 0x07, mantissa = code & 0x0f;
  int s = ((mantissa << 3) + 0x84) << exponent;
  s -= 0x84;
  return static_cast<int16_t>(sign ? -s : s);
}

uint8_t linear_to_alaw(int16_t sample) {
  int s = sample;
  int sign = s >= 0 ? 0x80 : 0;
  if (!sign) s = -s - 1;
  s = std::min(s, 32767);
  uint8_t code;
  if (s < 256) {
    code = static_cast<uint8_t>(s >> 4);
  } else {
    int exponent = 1;
    for (int v = s >> 8; v > 1; v >>= 1) ++exponent;
    code = static_cast<uint8_t>((exponent << 4) | ((s >> (exponent + 3)) & 0x0f));
  }
  return static_cast<uint8_t>((code | sign) ^ 0x55);
}

int16_t alaw_to_linear(uint8_t code) {
  code ^= 0x55;
  int sign = code & 0x80, exponent = (code >> 4) & 0x07, mantissa = code & 0x0f;
  int s = exponent == 0 ? (mantissa << 4) + 8 : ((mantissa << 4) + 0x108) << (exponent - 1);
  return static_cast<int16_t>(sign ? s : -s);
}

void encode_g711_from_48k(const int16_t* pcm48, int channels, bool alaw, uint8_t* out160) {
  for (int i = 0; i < 160; ++i) {
    int sum = 0;
    for (int k = 0; k < 6; ++k)
      for (int c = 0; c < channels; ++c) sum += pcm48[(i * 6 + k) * channels + c];
    auto s = static_cast<int16_t>(sum / (6 * channels));
    out160[i] = alaw ? linear_to_alaw(s) : linear_to_ulaw(s);
  }
}

}  // namespace kvs::media
