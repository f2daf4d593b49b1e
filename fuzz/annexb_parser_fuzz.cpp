// libFuzzer target: the streaming Annex-B access-unit parser. The first byte picks a chunk size;
// the rest is the stream. Access units must not depend on how the bytes were chunked, must be
// well formed (4-byte start codes, non-empty NAL units) and bounded in size.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "annexb.h"
#include "annexb_parser.h"

using kvs::media::AnnexBParser;
using kvs::media::H264AccessUnit;

static std::vector<H264AccessUnit> run(const uint8_t* d, size_t n, size_t chunk, bool insert) {
  AnnexBParser p(256);  // small bound so that the oversize path is exercised too
  p.set_insert_parameter_sets(insert);
  std::vector<H264AccessUnit> out;
  for (size_t i = 0; i < n; i += chunk) p.push(d + i, chunk < n - i ? chunk : n - i, &out);
  p.flush(&out);
  return out;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t chunk = 1 + data[0] % 17;
  const bool insert = data[0] & 0x80;
  const auto whole = run(data + 1, size - 1, size, insert);
  const auto parts = run(data + 1, size - 1, chunk, insert);
  if (whole.size() != parts.size()) abort();
  for (size_t i = 0; i < whole.size(); ++i) {
    const auto& au = whole[i];
    if (au.data != parts[i].data || au.keyframe != parts[i].keyframe) abort();
    if (au.data.size() < 5 || au.data[0] || au.data[1] || au.data[2] || au.data[3] != 1) abort();
    if (au.data.size() > 4 * 256 + 3 * (4 + 256)) abort();  // cut point + SPS/PPS + one NAL
    const auto nals = kvs::media::split_annexb(au.data.data(), au.data.size());
    if (nals.empty()) abort();
    bool idr = false;
    for (const auto& n : nals) idr = idr || n.type() == kvs::media::kNalIdr;
    if (idr != au.keyframe) abort();
  }
  return 0;
}
