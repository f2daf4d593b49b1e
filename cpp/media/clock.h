// The one clock for media and transport timing: CLOCK_MONOTONIC (std::chrono::steady_clock on
// Linux), in microseconds. Capture times, pacing, RTCP intervals and timeouts all use it.
#pragma once

#include <chrono>
#include <cstdint>

namespace kvs::media {

inline int64_t monotonic_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace kvs::media
