// G.711 (ITU-T G.711) mu-law (PCMU) and A-law (PCMA) for viewers that offer only those, at
// 8 kHz: encoding from and decoding to 16-bit linear PCM.
#pragma once
#include <cstddef>
#include <cstdint>

namespace kvs::media {

uint8_t linear_to_ulaw(int16_t sample);
int16_t ulaw_to_linear(uint8_t code);
uint8_t linear_to_alaw(int16_t sample);
int16_t alaw_to_linear(uint8_t code);

// 20 ms of 48 kHz interleaved PCM (960 frames) -> 160 G.711 bytes (8 kHz mono): channels are
// averaged and each 6 samples averaged (a box low-pass before decimation).
void encode_g711_from_48k(const int16_t* pcm48, int channels, bool alaw, uint8_t* out160);

}  // namespace kvs::media
