#include "rtcp.h"

#include <algorithm>
#include <chrono>

#include "byte_order.h"

namespace kvs::rtc {
namespace {

// RTCP packet types (RFC 3550 12.1, RFC 4585 6.1)
constexpr uint8_t kSR = 200, kRR = 201, kRTPFB = 205, kPSFB = 206;

void parse_report_blocks(const uint8_t* p, size_t count, size_t avail, RtcpPacket* pkt) {
  for (size_t i = 0; i < count && avail >= 24; ++i, p += 24, avail -= 24) {
    ReportBlock b;
    b.ssrc = rd32(p);
    b.fraction_lost = p[4];
    int32_t lost = (p[5] << 16) | (p[6] << 8) | p[7];
    if (lost & 0x800000) lost |= ~0xffffff;  // 24-bit signed
    b.cumulative_lost = lost;
    b.highest_sequence = rd32(p + 8);
    b.jitter = rd32(p + 12);
    b.last_sr = rd32(p + 16);
    b.delay_since_last_sr = rd32(p + 20);
    pkt->reports.push_back(b);
  }
}

}  // namespace

bool parse_transport_feedback(const uint8_t* fci, size_t size, TransportFeedback* out, std::string* error) {
  if (size < 8) {
    *error = "transport-cc feedback shorter than its 8-byte header";
    return false;
  }
  out->base_sequence = rd16(fci);
  size_t count = rd16(fci + 2);
  int32_t ref = (fci[4] << 16) | (fci[5] << 8) | fci[6];
  if (ref & 0x800000) ref |= ~0xffffff;  // 24-bit signed
  out->reference_time = ref;
  out->feedback_count = fci[7];
  out->packets.clear();
  if (count == 0) {
    *error = "transport-cc feedback with a packet status count of 0";
    return false;
  }
  // Packet status chunks (draft section 3.1.1-3.1.4): symbols 0 = not received,
  // 1 = received with a small delta, 2 = received with a large or negative delta.
  std::vector<uint8_t> symbols;
  symbols.reserve(count);
  size_t p = 8;
  while (symbols.size() < count) {
    if (p + 2 > size) {
      *error = "transport-cc feedback: packet status chunks end after " + std::to_string(symbols.size()) + " of " +
               std::to_string(count) + " packets";
      return false;
    }
    uint16_t chunk = rd16(fci + p);
    p += 2;
    size_t left = count - symbols.size();
    if (!(chunk & 0x8000)) {  // run length chunk: T=0, S(2), run length(13)
      uint8_t sym = (chunk >> 13) & 3;
      size_t run = chunk & 0x1fff;
      if (run == 0) {
        *error = "transport-cc feedback: run length chunk with a run of 0";
        return false;
      }
      symbols.insert(symbols.end(), std::min(run, left), sym);
    } else if (!(chunk & 0x4000)) {  // status vector, 14 one-bit symbols
      for (int i = 13; i >= 0 && left > 0; --i, --left) symbols.push_back((chunk >> i) & 1);
    } else {  // status vector, 7 two-bit symbols
      for (int i = 6; i >= 0 && left > 0; --i, --left) symbols.push_back((chunk >> (2 * i)) & 3);
    }
  }
  out->packets.resize(count);
  for (size_t i = 0; i < count; ++i) {
    auto& pk = out->packets[i];
    pk.sequence = static_cast<uint16_t>(out->base_sequence + i);
    switch (symbols[i]) {
      case 0:
        break;
      case 1:
        if (p + 1 > size) {
          *error = "transport-cc feedback: receive deltas end at packet " + std::to_string(i);
          return false;
        }
        pk.received = true;
        pk.delta = fci[p++];
        break;
      case 2:
        if (p + 2 > size) {
          *error = "transport-cc feedback: receive deltas end at packet " + std::to_string(i);
          return false;
        }
        pk.received = true;
        pk.delta = static_cast<int16_t>(rd16(fci + p));
        p += 2;
        break;
      default:
        *error = "transport-cc feedback: reserved status symbol 3 at packet " + std::to_string(i);
        return false;
    }
  }
  return true;
}

size_t write_transport_feedback(uint32_t sender_ssrc, uint32_t media_ssrc, const TransportFeedback& fb,
                                std::vector<uint8_t>* out) {
  const auto& pk = fb.packets;
  size_t n = pk.size();
  auto symbol = [&](size_t i) -> uint8_t {
    if (!pk[i].received) return 0;
    return pk[i].delta >= 0 && pk[i].delta <= 255 ? 1 : 2;
  };
  out->assign(20, 0);
  std::vector<uint8_t>& o = *out;
  for (size_t i = 0; i < n;) {
    uint8_t s = symbol(i);
    size_t run = 1;
    while (i + run < n && run < 0x1fff && symbol(i + run) == s) ++run;
    uint16_t chunk;
    if (run >= 14) {
      chunk = static_cast<uint16_t>(s << 13 | run);
      i += run;
    } else {
      bool two_bit = false;
      for (size_t k = i; k < std::min(n, i + 14); ++k) two_bit |= symbol(k) == 2;
      if (two_bit) {
        chunk = 0xc000;
        for (size_t k = 0; k < 7; ++k)
          if (i + k < n) chunk |= static_cast<uint16_t>(symbol(i + k) << (2 * (6 - k)));
        i += 7;
      } else {
        chunk = 0x8000;
        for (size_t k = 0; k < 14; ++k)
          if (i + k < n) chunk |= static_cast<uint16_t>(symbol(i + k) << (13 - k));
        i += 14;
      }
    }
    o.push_back(static_cast<uint8_t>(chunk >> 8));
    o.push_back(static_cast<uint8_t>(chunk & 0xff));
  }
  for (size_t i = 0; i < n; ++i) {
    uint8_t s = symbol(i);
    if (s == 1) o.push_back(static_cast<uint8_t>(pk[i].delta));
    if (s == 2) {
      o.push_back(static_cast<uint8_t>(static_cast<uint16_t>(pk[i].delta) >> 8));
      o.push_back(static_cast<uint8_t>(pk[i].delta & 0xff));
    }
  }
  while (o.size() % 4) o.push_back(0);
  uint8_t* p = o.data();
  p[0] = 0x80 | 15;
  p[1] = kRTPFB;
  wr16(p + 2, static_cast<uint16_t>(o.size() / 4 - 1));
  wr32(p + 4, sender_ssrc);
  wr32(p + 8, media_ssrc);
  wr16(p + 12, fb.base_sequence);
  wr16(p + 14, static_cast<uint16_t>(n));
  uint32_t ref = static_cast<uint32_t>(fb.reference_time) & 0xffffff;
  p[16] = static_cast<uint8_t>(ref >> 16);
  p[17] = static_cast<uint8_t>(ref >> 8);
  p[18] = static_cast<uint8_t>(ref);
  p[19] = fb.feedback_count;
  return o.size();
}

bool parse_rtcp(const uint8_t* data, size_t size, std::vector<RtcpPacket>* out) {
  size_t before = out->size();
  while (size >= 4) {
    if ((data[0] >> 6) != 2) break;
    uint8_t count = data[0] & 0x1f;
    uint8_t type = data[1];
    size_t len = (static_cast<size_t>(rd16(data + 2)) + 1) * 4;
    if (len > size) break;
    RtcpPacket pkt;
    if (type == kSR && len >= 28) {
      pkt.type = RtcpPacket::kSenderReport;
      pkt.sender_ssrc = rd32(data + 4);
      pkt.ntp_timestamp = static_cast<uint64_t>(rd32(data + 8)) << 32 | rd32(data + 12);
      parse_report_blocks(data + 28, count, len - 28, &pkt);
      out->push_back(std::move(pkt));
    } else if (type == kRR && len >= 8) {
      pkt.type = RtcpPacket::kReceiverReport;
      pkt.sender_ssrc = rd32(data + 4);
      parse_report_blocks(data + 8, count, len - 8, &pkt);
      out->push_back(std::move(pkt));
    } else if ((type == kRTPFB || type == kPSFB) && len >= 12) {
      pkt.sender_ssrc = rd32(data + 4);
      pkt.media_ssrc = rd32(data + 8);
      const uint8_t* fci = data + 12;
      size_t fci_len = len - 12;
      if (type == kRTPFB && count == 1) {  // generic NACK: PID + BLP pairs
        pkt.type = RtcpPacket::kNack;
        for (size_t i = 0; i + 4 <= fci_len; i += 4) {
          uint16_t pid = rd16(fci + i), blp = rd16(fci + i + 2);
          pkt.nack_sequences.push_back(pid);
          for (int bit = 0; bit < 16; ++bit)
            if (blp & (1 << bit)) pkt.nack_sequences.push_back(static_cast<uint16_t>(pid + bit + 1));
        }
      } else if (type == kPSFB && count == 1) {
        pkt.type = RtcpPacket::kPli;
      } else if (type == kPSFB && count == 4) {  // FIR: entries of SSRC + seq nr
        pkt.type = RtcpPacket::kFir;
        if (fci_len >= 4) pkt.media_ssrc = rd32(fci);
      } else if (type == kPSFB && count == 15 && fci_len >= 8 && fci[0] == 'R' && fci[1] == 'E' &&
                 fci[2] == 'M' && fci[3] == 'B') {
        pkt.type = RtcpPacket::kRemb;
        uint8_t num = fci[4];
        uint8_t exp = fci[5] >> 2;
        uint32_t mantissa = (static_cast<uint32_t>(fci[5] & 0x03) << 16) | rd16(fci + 6);
        pkt.remb_bitrate = exp > 46 ? UINT64_MAX : static_cast<uint64_t>(mantissa) << exp;
        for (size_t i = 0; i < num && 8 + 4 * i + 4 <= fci_len; ++i)
          pkt.remb_ssrcs.push_back(rd32(fci + 8 + 4 * i));
      } else if (type == kRTPFB && count == 15) {
        // Padding (RFC 3550 6.4.1 P bit): the last byte counts the bytes to drop.
        size_t pad = (data[0] & 0x20) ? data[len - 1] : 0;
        if (pad > fci_len) pad = fci_len;
        pkt.type = parse_transport_feedback(fci, fci_len - pad, &pkt.transport_cc, &pkt.error)
                       ? RtcpPacket::kTransportCc : RtcpPacket::kMalformed;
      }
      out->push_back(std::move(pkt));
    }
    data += len;
    size -= len;
  }
  return out->size() > before;
}

size_t write_sender_report(uint32_t ssrc, uint64_t ntp, uint32_t rtp_timestamp,
                           uint32_t packet_count, uint32_t octet_count, uint8_t* out) {
  out[0] = 0x80;
  out[1] = kSR;
  wr16(out + 2, 6);  // length in 32-bit words minus one
  wr32(out + 4, ssrc);
  wr32(out + 8, static_cast<uint32_t>(ntp >> 32));
  wr32(out + 12, static_cast<uint32_t>(ntp));
  wr32(out + 16, rtp_timestamp);
  wr32(out + 20, packet_count);
  wr32(out + 24, octet_count);
  return 28;
}

size_t write_receiver_report(uint32_t sender_ssrc, const std::vector<ReportBlock>& blocks, uint8_t* out) {
  size_t n = std::min<size_t>(blocks.size(), 31);
  out[0] = static_cast<uint8_t>(0x80 | n);
  out[1] = kRR;
  wr16(out + 2, static_cast<uint16_t>(1 + 6 * n));  // length in 32-bit words minus one
  wr32(out + 4, sender_ssrc);
  uint8_t* p = out + 8;
  for (size_t i = 0; i < n; ++i, p += 24) {
    const ReportBlock& b = blocks[i];
    wr32(p, b.ssrc);
    // Cumulative lost: 24-bit signed, clamped.
    int32_t lost = std::clamp(b.cumulative_lost, -0x800000, 0x7fffff);
    wr32(p + 4, static_cast<uint32_t>(b.fraction_lost) << 24 | (static_cast<uint32_t>(lost) & 0xffffff));
    wr32(p + 8, b.highest_sequence);
    wr32(p + 12, b.jitter);
    wr32(p + 16, b.last_sr);
    wr32(p + 20, b.delay_since_last_sr);
  }
  return 8 + 24 * n;
}

size_t write_pli(uint32_t sender_ssrc, uint32_t media_ssrc, uint8_t* out) {
  out[0] = 0x81;
  out[1] = kPSFB;
  wr16(out + 2, 2);
  wr32(out + 4, sender_ssrc);
  wr32(out + 8, media_ssrc);
  return 12;
}

size_t write_nack(uint32_t sender_ssrc, uint32_t media_ssrc, const std::vector<uint16_t>& seqs,
                  std::vector<uint8_t>* out) {
  std::vector<std::pair<uint16_t, uint16_t>> items;  // PID, BLP
  for (uint16_t s : seqs) {
    if (!items.empty()) {
      uint16_t diff = static_cast<uint16_t>(s - items.back().first);
      if (diff >= 1 && diff <= 16) {
        items.back().second |= static_cast<uint16_t>(1 << (diff - 1));
        continue;
      }
    }
    items.push_back({s, 0});
  }
  size_t len = 12 + 4 * items.size();
  out->assign(len, 0);
  uint8_t* p = out->data();
  p[0] = 0x81;
  p[1] = kRTPFB;
  wr16(p + 2, static_cast<uint16_t>(len / 4 - 1));
  wr32(p + 4, sender_ssrc);
  wr32(p + 8, media_ssrc);
  for (size_t i = 0; i < items.size(); ++i) {
    wr16(p + 12 + 4 * i, items[i].first);
    wr16(p + 14 + 4 * i, items[i].second);
  }
  return len;
}

uint64_t ntp_now() {
  using namespace std::chrono;
  auto now = system_clock::now().time_since_epoch();
  uint64_t us = duration_cast<microseconds>(now).count();
  uint64_t secs = us / 1000000 + 2208988800ULL;  // 1900 -> 1970
  uint64_t frac = ((us % 1000000) << 32) / 1000000;
  return secs << 32 | frac;
}

}  // namespace kvs::rtc
