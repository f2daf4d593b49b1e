#include "pattern_source.h"

#include <algorithm>
#include <array>
#include <cstring>

namespace kvs::media {
namespace {

struct Yuv {
  uint8_t y, u, v;
};

// 75% colour bars in the usual order, as BT.601 limited-range YCbCr.
constexpr std::array<Yuv, 8> kBars = {{
    {180, 128, 128},  // white
    {162, 44, 142},   // yellow
    {131, 156, 44},   // cyan
    {112, 72, 58},    // green
    {84, 184, 198},   // magenta
    {65, 100, 212},   // red
    {35, 212, 114},   // blue
    {16, 128, 128},   // black
}};
constexpr Yuv kBlack = {16, 128, 128};
constexpr Yuv kWhite = {235, 128, 128};

// 7-segment masks, bit 0..6 = segments a..g (a top, then clockwise, g middle).
constexpr std::array<uint8_t, 10> kSegments = {0x3f, 0x06, 0x5b, 0x4f, 0x66,
                                               0x6d, 0x7d, 0x07, 0x7f, 0x6f};

int even(int v) { return v & ~1; }

// Position bouncing between 0 and `range` at `speed` samples per frame.
int bounce(uint64_t frame_number, int speed, int range) {
  if (range <= 0) return 0;
  const uint64_t period = 2 * static_cast<uint64_t>(range);
  const int p = static_cast<int>(frame_number * speed % period);
  return p <= range ? p : 2 * range - p;
}

// Fills a rectangle clipped to the picture; chroma covers every 2x2 block the rectangle touches.
void fill_rect(I420Frame& f, int x, int y, int w, int h, Yuv c) {
  const int x0 = std::max(0, x), y0 = std::max(0, y);
  const int x1 = std::min(f.width, x + w), y1 = std::min(f.height, y + h);
  if (x0 >= x1 || y0 >= y1) return;
  for (int row = y0; row < y1; ++row) std::memset(f.y() + row * f.stride_y() + x0, c.y, x1 - x0);
  for (int row = y0 / 2; row < (y1 + 1) / 2; ++row) {
    std::memset(f.u() + row * f.stride_uv() + x0 / 2, c.u, (x1 + 1) / 2 - x0 / 2);
    std::memset(f.v() + row * f.stride_uv() + x0 / 2, c.v, (x1 + 1) / 2 - x0 / 2);
  }
}

}  // namespace

PatternSource::PatternSource(int width, int height) : width_(width), height_(height) {
  const int margin = std::max(2, even(height / 32));
  digit_pitch_ = std::max(2, even(width * 3 / 5 / kCounterDigits));
  digit_width_ = std::max(1, digit_pitch_ * 3 / 4);
  digit_height_ = std::max(2, std::min(2 * digit_width_, height / 3));
  segment_ = std::max(1, digit_width_ / 5);
  const int pad = segment_;
  counter_.x = std::min(margin, width);
  counter_.y = std::min(margin, height);
  counter_.width = std::min(width - counter_.x,
                            2 * pad + kCounterDigits * digit_pitch_ - (digit_pitch_ - digit_width_));
  counter_.height = std::min(height - counter_.y, 2 * pad + digit_height_);
}

void PatternSource::render(uint64_t frame_number, I420Frame& out) const {
  if (out.width != width_ || out.height != height_) out.allocate(width_, height_);
  draw_bars(frame_number, out);
  draw_box(frame_number, out);
  draw_counter(frame_number, out);
}

void PatternSource::draw_bars(uint64_t frame_number, I420Frame& out) const {
  // One row of each plane is computed, then copied down: a 4K picture costs a few memcpy.
  const int speed = std::max(2, even(width_ / 160));
  const int offset = static_cast<int>(frame_number * speed % width_);
  std::vector<uint8_t> row_y(width_), row_u(width_ / 2), row_v(width_ / 2);
  for (int x = 0; x < width_; ++x) {
    const int src = (x - offset + width_) % width_;  // content moves right by `offset`
    const Yuv& c = kBars[static_cast<size_t>(src) * kBars.size() / width_];
    row_y[x] = c.y;
    if ((x & 1) == 0) {
      row_u[x / 2] = c.u;
      row_v[x / 2] = c.v;
    }
  }
  for (int row = 0; row < height_; ++row) std::memcpy(out.y() + row * out.stride_y(), row_y.data(), width_);
  for (int row = 0; row < height_ / 2; ++row) {
    std::memcpy(out.u() + row * out.stride_uv(), row_u.data(), width_ / 2);
    std::memcpy(out.v() + row * out.stride_uv(), row_v.data(), width_ / 2);
  }
}

void PatternSource::draw_box(uint64_t frame_number, I420Frame& out) const {
  const int side = std::max(4, even(std::min(width_, height_) / 5));
  const int cell = std::max(1, side / 4);
  const int x0 = even(bounce(frame_number, std::max(1, width_ / 120), width_ - side));
  const int y0 = even(bounce(frame_number, std::max(1, height_ / 90), height_ - side));
  fill_rect(out, x0, y0, side, side, kBlack);  // neutral chroma under the checkers
  for (int y = y0; y < std::min(height_, y0 + side); ++y) {
    uint8_t* line = out.y() + y * out.stride_y();
    for (int x = x0; x < std::min(width_, x0 + side); ++x) {
      line[x] = (((x - x0) / cell + (y - y0) / cell) & 1) ? kWhite.y : kBlack.y;
    }
  }
}

PatternSource::Rect PatternSource::segment_rect(int digit, int segment) const {
  const int t = segment_, w = digit_width_, h = digit_height_, half = h / 2;
  const int left = counter_.x + segment_ + digit * digit_pitch_, top = counter_.y + segment_;
  Rect r{};
  switch (segment) {
    case 0: r = {left, top, w, t}; break;                        // a: top
    case 1: r = {left + w - t, top, t, half}; break;             // b: upper right
    case 2: r = {left + w - t, top + half, t, h - half}; break;  // c: lower right
    case 3: r = {left, top + h - t, w, t}; break;                // d: bottom
    case 4: r = {left, top + half, t, h - half}; break;          // e: lower left
    case 5: r = {left, top, t, half}; break;                     // f: upper left
    default: r = {left, top + half - t / 2, w, t}; break;        // g: middle
  }
  // Clipped to the counter box, so tiny pictures never draw outside it.
  r.width = std::max(0, std::min(r.x + r.width, counter_.x + counter_.width) - r.x);
  r.height = std::max(0, std::min(r.y + r.height, counter_.y + counter_.height) - r.y);
  return r;
}

uint8_t PatternSource::segments_of(int decimal_digit) { return kSegments[static_cast<unsigned>(decimal_digit) % 10]; }

void PatternSource::draw_counter(uint64_t frame_number, I420Frame& out) const {
  fill_rect(out, counter_.x, counter_.y, counter_.width, counter_.height, kBlack);
  uint64_t n = frame_number;
  for (int digit = kCounterDigits - 1; digit >= 0; --digit, n /= 10) {
    const uint8_t mask = segments_of(static_cast<int>(n % 10));
    for (int segment = 0; segment < 7; ++segment) {
      if (!(mask & (1 << segment))) continue;
      const Rect r = segment_rect(digit, segment);
      fill_rect(out, r.x, r.y, r.width, r.height, kWhite);
    }
  }
}

}  // namespace kvs::media
