#include "pattern_source.h"

#include <gtest/gtest.h>

#include "h264_test_util.h"

namespace kvs::media {
namespace {

using test::DecodedPicture;

DecodedPicture luma_of(const I420Frame& f) {
  return {f.width, f.height, std::vector<uint8_t>(f.y(), f.y() + static_cast<size_t>(f.width) * f.height)};
}

size_t differing_luma(const I420Frame& a, const I420Frame& b, PatternSource::Rect r) {
  size_t n = 0;
  for (int y = r.y; y < r.y + r.height; ++y) {
    for (int x = r.x; x < r.x + r.width; ++x) n += a.y()[y * a.width + x] != b.y()[y * b.width + x];
  }
  return n;
}

TEST(PatternSource, FillsAnI420BufferOfEverySupportedShape) {
  const std::pair<int, int> sizes[] = {{16, 16}, {18, 22}, {640, 480}, {1920, 1080}, {3840, 2160}, {3840, 16}, {16, 2160}};
  for (auto [w, h] : sizes) {
    SCOPED_TRACE(std::to_string(w) + "x" + std::to_string(h));
    PatternSource source(w, h);
    I420Frame frame;
    source.render(12345678, frame);
    EXPECT_EQ(frame.width, w);
    EXPECT_EQ(frame.height, h);
    EXPECT_EQ(frame.buffer.size(), static_cast<size_t>(w) * h * 3 / 2);
    const auto r = source.counter_rect();
    EXPECT_GE(r.x, 0);
    EXPECT_GE(r.y, 0);
    EXPECT_LE(r.x + r.width, w);
    EXPECT_LE(r.y + r.height, h);
  }
}

TEST(PatternSource, ConsecutiveFramesMoveAndRenderingIsRepeatable) {
  PatternSource source(640, 480);
  I420Frame a, b, a_again;
  source.render(100, a);
  source.render(101, b);
  source.render(100, a_again);
  EXPECT_EQ(a.buffer, a_again.buffer);
  const auto c = source.counter_rect();
  // Below the counter: scrolling bars and the bouncing box.
  const PatternSource::Rect below{0, c.y + c.height, 640, 480 - (c.y + c.height)};
  EXPECT_GT(differing_luma(a, b, below), 1000u);
  EXPECT_GT(differing_luma(a, b, c), 100u);  // digit 0 -> 1
}

TEST(PatternSource, CounterReadsBackAsTheFrameNumber) {
  PatternSource source(640, 480);
  I420Frame frame;
  for (uint64_t n : {0ull, 1ull, 7ull, 42ull, 1234567ull, 99999999ull}) {
    source.render(n, frame);
    EXPECT_EQ(test::read_counter(luma_of(frame), source), static_cast<int64_t>(n));
  }
  source.render(100000005ull, frame);  // eight digits: shows n mod 10^8
  EXPECT_EQ(test::read_counter(luma_of(frame), source), 5);
}

TEST(PatternSource, CounterIsLargeOnAVgaPicture) {
  PatternSource source(640, 480);
  const auto r = source.counter_rect();
  EXPECT_GE(r.width, 640 / 2);
  EXPECT_GE(r.height, 480 / 8);
}

}  // namespace
}  // namespace kvs::media
