// libFuzzer target: split_annexb on arbitrary bytes. Checks that every NAL unit lies inside the
// input, is non-empty, comes after the previous one, and contains no start code.
#include <cstdint>
#include <cstdlib>

#include "annexb.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto nals = kvs::media::split_annexb(data, size);
  const uint8_t* prev_end = data;
  for (const auto& n : nals) {
    if (n.size == 0 || n.data < prev_end || n.data + n.size > data + size) abort();
    for (size_t i = 2; i < n.size; ++i)
      if (n.data[i - 2] == 0 && n.data[i - 1] == 0 && n.data[i] == 1) abort();
    prev_end = n.data + n.size;
  }
  return 0;
}
