// libFuzzer target: the SEI parser on arbitrary NAL bytes, emulation-prevention escaping, and the
// capture-timestamp SEI round trip.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "h264_sei.h"

using namespace kvs::media;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<SeiMessage> msgs;
  parse_sei_nal(data, size, &msgs);
  size_t total = 0;
  for (const auto& m : msgs) total += m.payload.size();
  if (total > size) abort();
  uint64_t ts;
  find_timestamp_sei(data, size, &ts);

  const auto esc = h264_escape_rbsp(data, size);
  for (size_t i = 2; i < esc.size(); ++i)
    if (esc[i - 2] == 0 && esc[i - 1] == 0 && esc[i] <= 2) abort();
  if (h264_unescape_rbsp(esc.data(), esc.size()) != std::vector<uint8_t>(data, data + size)) abort();

  if (size >= 8) {
    uint64_t v;
    memcpy(&v, data, 8);
    const auto nal = make_timestamp_sei_nal(v);
    uint64_t got = 0;
    if (!find_timestamp_sei(nal.data(), nal.size(), &got) || got != v) abort();
  }
  return 0;
}
