// G.711 round trips: every code decodes and re-encodes to itself, and linear samples survive
// within the companding error (ITU-T G.711 tables).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include "audio_pipeline.h"
#include "g711.h"

using namespace kvs::media;

TEST(G711, EveryCodeRoundTrips) {
  for (int c = 0; c < 256; ++c) {
    auto code = static_cast<uint8_t>(c);
    if (c != 0x7f)  // mu-law's negative zero maps to positive zero
      EXPECT_EQ(linear_to_ulaw(ulaw_to_linear(code)), code) << "ulaw " << c;
    EXPECT_EQ(linear_to_alaw(alaw_to_linear(code)), code) << "alaw " << c;
  }
}

TEST(G711, LinearSamplesSurviveWithinCompandingError) {
  for (int s = -32768; s <= 32767; s += 97) {
    auto v = static_cast<int16_t>(s);
    int tolerance = std::max(16, std::abs(s) / 16);  // about 4 bits of mantissa
    EXPECT_NEAR(ulaw_to_linear(linear_to_ulaw(v)), s, tolerance) << s;
    EXPECT_NEAR(alaw_to_linear(linear_to_alaw(v)), s, tolerance) << s;
  }
}

TEST(G711, KnownCodes) {
  EXPECT_EQ(linear_to_ulaw(0), 0xff);
  EXPECT_EQ(linear_to_alaw(0), 0xd5);
  EXPECT_EQ(ulaw_to_linear(0x00), -32124);
  EXPECT_EQ(ulaw_to_linear(0x80), 32124);
}

TEST(G711, ToneDecimatedTo8kKeepsItsLevel) {
  std::vector<int16_t> pcm(AudioPipeline::kFrameSamples * 2);
  render_tone(440, 2, 0, pcm.data());  // the beep is on in the first 300 ms of each second
  uint8_t out[160];
  encode_g711_from_48k(pcm.data(), 2, false, out);
  double sum = 0;
  for (uint8_t c : out) sum += std::pow(ulaw_to_linear(c), 2);
  double rms = std::sqrt(sum / 160);
  EXPECT_NEAR(rms, 0.4 * 32767 / std::sqrt(2.0), 600);  // a 0.4 full-scale sine
}
