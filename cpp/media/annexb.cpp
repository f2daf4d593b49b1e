#include "annexb.h"

namespace kvs::media {

std::vector<NalUnit> split_annexb(const uint8_t* data, size_t size) {
  std::vector<NalUnit> out;
  size_t i = 0;
  size_t start = SIZE_MAX;  // first byte of the current NAL
  while (i + 2 < size) {
    if (data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1) {
      if (start != SIZE_MAX) {
        size_t end = i;
        while (end > start && data[end - 1] == 0) --end;  // trailing_zero_8bits / 4-byte code
        if (end > start) out.push_back({data + start, end - start});
      }
      i += 3;
      start = i;
      continue;
    }
    ++i;
  }
  if (start != SIZE_MAX) {
    size_t end = size;
    while (end > start && data[end - 1] == 0) --end;  // trailing_zero_8bits after the last NAL
    if (end > start) out.push_back({data + start, end - start});
  }
  return out;
}

}  // namespace kvs::media
