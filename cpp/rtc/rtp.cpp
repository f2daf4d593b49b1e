#include "rtp.h"

#include "byte_order.h"

namespace kvs::rtc {

size_t write_rtp_header(const RtpHeader& h, uint8_t* out) {
  bool ext = h.transport_cc_id >= 1 && h.transport_cc_id <= 14;
  out[0] = ext ? 0x90 : 0x80;
  out[1] = static_cast<uint8_t>((h.marker ? 0x80 : 0) | (h.payload_type & 0x7f));
  wr16(out + 2, h.sequence);
  wr32(out + 4, h.timestamp);
  wr32(out + 8, h.ssrc);
  if (!ext) return kRtpHeaderSize;
  // RFC 8285 4.2: 0xBEDE, length 1 word; element ID | L=1 (two bytes), then one padding byte.
  wr16(out + 12, 0xBEDE);
  wr16(out + 14, 1);
  out[16] = static_cast<uint8_t>(h.transport_cc_id << 4 | 1);
  wr16(out + 17, h.transport_sequence);
  out[19] = 0;
  return kRtpMaxHeaderSize;
}

std::optional<uint16_t> read_transport_sequence(const uint8_t* packet, size_t size, int id) {
  if (id < 1 || id > 255 || size < kRtpHeaderSize || !(packet[0] & 0x10)) return std::nullopt;
  size_t off = kRtpHeaderSize + 4 * (packet[0] & 0x0f);
  if (off + 4 > size) return std::nullopt;
  uint16_t profile = rd16(packet + off);
  size_t end = off + 4 + 4 * static_cast<size_t>(rd16(packet + off + 2));
  if (end > size) return std::nullopt;
  size_t p = off + 4;
  if (profile == 0xBEDE) {  // RFC 8285 4.2: one-byte headers
    while (p < end) {
      if (packet[p] == 0) { ++p; continue; }  // padding
      int el_id = packet[p] >> 4;
      size_t len = (packet[p] & 0x0f) + 1u;
      if (el_id == 15) break;  // reserved: stop
      if (p + 1 + len > end) return std::nullopt;
      if (el_id == id) return len == 2 ? std::optional<uint16_t>(rd16(packet + p + 1)) : std::nullopt;
      p += 1 + len;
    }
  } else if ((profile & 0xfff0) == 0x1000) {  // RFC 8285 4.3: two-byte headers
    while (p < end) {
      if (packet[p] == 0) { ++p; continue; }
      if (p + 2 > end) return std::nullopt;
      int el_id = packet[p];
      size_t len = packet[p + 1];
      if (p + 2 + len > end) return std::nullopt;
      if (el_id == id) return len == 2 ? std::optional<uint16_t>(rd16(packet + p + 2)) : std::nullopt;
      p += 2 + len;
    }
  }
  return std::nullopt;
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

}  // namespace kvs::rtc
