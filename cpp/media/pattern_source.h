// Synthetic video: 75% colour bars scrolling right, a checkered box bouncing around, and a
// large 7-segment frame counter (8 digits, white on black) at the top left, so a screenshot
// shows both motion and which frame it is. Rendering is a pure function of the frame number;
// pacing is the caller's job (VideoPipeline). Not thread-safe: one owner thread.
#pragma once
#include <cstdint>

#include "i420_frame.h"

namespace kvs::media {

class PatternSource {
 public:
  struct Rect {
    int x, y, width, height;
  };
  static constexpr int kCounterDigits = 8;  // the counter shows frame_number % 10^8

  // width and height must be even and at least 16 (checked by the caller).
  PatternSource(int width, int height);

  // Draws picture `frame_number` into `out`, (re)allocating it to the source size if needed.
  void render(uint64_t frame_number, I420Frame& out) const;

  // Where the counter is drawn (luma samples). Only the digits change inside it.
  Rect counter_rect() const { return counter_; }
  // Where segment 0..6 (a..g: top, upper right, lower right, bottom, lower left, upper left,
  // middle) of counter digit 0..7 (0 = most significant) is drawn, so a reader of a decoded
  // picture can read the number back.
  Rect segment_rect(int digit, int segment) const;
  // Bit s set = segment s lit for a decimal digit.
  static uint8_t segments_of(int decimal_digit);
  int width() const { return width_; }
  int height() const { return height_; }

 private:
  void draw_bars(uint64_t frame_number, I420Frame& out) const;
  void draw_box(uint64_t frame_number, I420Frame& out) const;
  void draw_counter(uint64_t frame_number, I420Frame& out) const;

  int width_;
  int height_;
  Rect counter_;
  int digit_width_;
  int digit_height_;
  int digit_pitch_;  // left edge to left edge of neighbouring digits
  int segment_;      // segment thickness
};

}  // namespace kvs::media
