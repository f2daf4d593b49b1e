// A raw picture in I420 (planar YUV 4:2:0, BT.601 limited range): Y plane, then U, then V,
// tightly packed in one buffer. Width and height are even, so each chroma plane is exactly
// (width/2) x (height/2).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace kvs::media {

struct I420Frame {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> buffer;

  void allocate(int w, int h) {
    width = w;
    height = h;
    buffer.resize(static_cast<size_t>(w) * h * 3 / 2);
  }
  int stride_y() const { return width; }
  int stride_uv() const { return width / 2; }
  uint8_t* y() { return buffer.data(); }
  uint8_t* u() { return y() + static_cast<size_t>(width) * height; }
  uint8_t* v() { return u() + static_cast<size_t>(width / 2) * (height / 2); }
  const uint8_t* y() const { return buffer.data(); }
  const uint8_t* u() const { return y() + static_cast<size_t>(width) * height; }
  const uint8_t* v() const { return u() + static_cast<size_t>(width / 2) * (height / 2); }
};

}  // namespace kvs::media
