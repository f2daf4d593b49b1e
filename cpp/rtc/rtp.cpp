#include "rtp.h"

#include <chrono>

namespace kvs::rtc {
namespace {

uint16_t rd16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t rd32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
         static_cast<uint32_t>(p[2]) << 8 | p[3];
}
void wr16(uint8_t* p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }
void wr32(uint8_t* p, uint32_t v) {
  p[0] = v >> 24; p[1] = (v >> 16) & 0xff; p[2] = (v >> 8) & 0xff; p[3] = v & 0xff;
}

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

void write_rtp_header(const RtpHeader& h, uint8_t* out) {
  out[0] = 0x80;
  out[1] = static_cast<uint8_t>((h.marker ? 0x80 : 0) | (h.payload_type & 0x7f));
  wr16(out + 2, h.sequence);
  wr32(out + 4, h.timestamp);
  wr32(out + 8, h.ssrc);
}

std::optional<RtpHeader> parse_rtp_header(const uint8_t* data, size_t size) {
  if (size < kRtpHeaderSize || (data[0] >> 6) != 2) return std::nullopt;
  RtpHeader h;
  h.marker = data[1] & 0x80;
  h.payload_type = data[1] & 0x7f;
  h.sequence = rd16(data + 2);
  h.timestamp = rd32(data + 4);
  h.ssrc = rd32(data + 8);
  size_t off = kRtpHeaderSize + 4 * (data[0] & 0x0f);
  if (off > size) return std::nullopt;
  if (data[0] & 0x10) {  // header extension (RFC 3550 5.3.1)
    if (off + 4 > size) return std::nullopt;
    off += 4 + 4 * static_cast<size_t>(rd16(data + off + 2));
    if (off > size) return std::nullopt;
  }
  h.header_size = off;
  return h;
}

PacketClass classify_packet(const uint8_t* data, size_t size) {
  if (size == 0) return PacketClass::kUnknown;
  uint8_t b = data[0];
  if (b <= 3) return PacketClass::kStun;
  if (b >= 20 && b <= 63) return PacketClass::kDtls;
  if (b >= 128 && b <= 191) {
    if (size >= 2 && data[1] >= 192 && data[1] <= 223) return PacketClass::kRtcp;  // RFC 5761 4
    return PacketClass::kRtp;
  }
  return PacketClass::kUnknown;
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
