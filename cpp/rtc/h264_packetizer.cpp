#include "h264_packetizer.h"

#include <algorithm>

namespace kvs::rtc {

using media::NalUnit;

std::vector<RtpPayload> H264Packetizer::packetize(const uint8_t* annexb, size_t size) {
  std::vector<NalUnit> nals;
  bool has_idr = false, has_sps = false, has_pps = false;
  for (const NalUnit& n : media::split_annexb(annexb, size)) {
    if ((n.data[0] & 0x80) || n.type() == 0 || n.type() > 23) continue;
    switch (n.type()) {
      case media::kNalSps: sps_.assign(n.data, n.data + n.size); has_sps = true; break;
      case media::kNalPps: pps_.assign(n.data, n.data + n.size); has_pps = true; break;
      case media::kNalIdr: has_idr = true; break;
      default: break;
    }
    nals.push_back(n);
  }
  if (has_idr && (!has_sps || !has_pps) && !sps_.empty() && !pps_.empty()) {
    // Insert the cached parameter sets before the first VCL NAL unit.
    auto first_vcl = std::find_if(nals.begin(), nals.end(), [](const NalUnit& n) {
      return n.type() >= 1 && n.type() <= 5;
    });
    std::vector<NalUnit> params;
    if (!has_sps) params.push_back({sps_.data(), sps_.size()});
    if (!has_pps) params.push_back({pps_.data(), pps_.size()});
    nals.insert(first_vcl, params.begin(), params.end());
  }
  std::vector<RtpPayload> out;
  emit_nals(nals, &out);
  if (!out.empty()) out.back().marker = true;
  return out;
}

void H264Packetizer::emit_nals(const std::vector<NalUnit>& nals, std::vector<RtpPayload>* out) const {
  size_t i = 0;
  while (i < nals.size()) {
    const NalUnit& n = nals[i];
    if (n.size > max_payload_) {
      // FU-A (5.8): FU indicator keeps F and NRI, type 28; FU header has S, E and the type.
      uint8_t indicator = (n.data[0] & 0xe0) | 28;
      uint8_t type = n.data[0] & 0x1f;
      const uint8_t* p = n.data + 1;
      size_t left = n.size - 1;
      size_t chunk_max = max_payload_ - 2;
      bool first = true;
      while (left > 0) {
        size_t chunk = std::min(left, chunk_max);
        RtpPayload pl;
        pl.data.reserve(chunk + 2);
        pl.data.push_back(indicator);
        uint8_t header = type;
        if (first) header |= 0x80;
        if (chunk == left) header |= 0x40;
        pl.data.push_back(header);
        pl.data.insert(pl.data.end(), p, p + chunk);
        out->push_back(std::move(pl));
        p += chunk;
        left -= chunk;
        first = false;
      }
      ++i;
      continue;
    }
    // STAP-A (5.7.1): aggregate the following small NAL units while they fit.
    size_t j = i, total = 1;
    uint8_t nri = 0;
    while (j < nals.size() && nals[j].size <= max_payload_ && total + 2 + nals[j].size <= max_payload_) {
      total += 2 + nals[j].size;
      nri = std::max<uint8_t>(nri, nals[j].data[0] & 0x60);
      ++j;
    }
    if (j - i >= 2) {
      RtpPayload pl;
      pl.data.reserve(total);
      pl.data.push_back(nri | 24);
      for (size_t k = i; k < j; ++k) {
        pl.data.push_back(static_cast<uint8_t>(nals[k].size >> 8));
        pl.data.push_back(static_cast<uint8_t>(nals[k].size & 0xff));
        pl.data.insert(pl.data.end(), nals[k].data, nals[k].data + nals[k].size);
      }
      out->push_back(std::move(pl));
      i = j;
    } else {  // single NAL unit packet (5.6)
      RtpPayload pl;
      pl.data.assign(n.data, n.data + n.size);
      out->push_back(std::move(pl));
      ++i;
    }
  }
}

}  // namespace kvs::rtc
