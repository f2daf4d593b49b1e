// RTP (RFC 3550 5.1) headers, the transport-wide sequence number header extension
// (draft-holmer-rmcat-transport-wide-cc-extensions-01, carried as an RFC 8285 one-byte header
// extension) and RFC 7983 demultiplexing. RTCP is in rtcp.h. Plain functions; any thread.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>

namespace kvs::rtc {

constexpr size_t kRtpHeaderSize = 12;
// With the transport-wide sequence number: 12 + 4 (RFC 8285 one-byte header) + 3 + 1 padding.
constexpr size_t kRtpMaxHeaderSize = 20;
constexpr const char* kTransportCcUri = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";

struct RtpHeader {
  bool marker = false;
  uint8_t payload_type = 0;
  uint16_t sequence = 0;
  uint32_t timestamp = 0;
  uint32_t ssrc = 0;
  size_t header_size = kRtpHeaderSize;  // including CSRCs and extensions, when parsed
  // Written when transport_cc_id is 1..14: the transport-wide sequence number as a one-byte
  // header extension element with that id.
  int transport_cc_id = 0;
  uint16_t transport_sequence = 0;
};

// Writes the header (no CSRC) at out; returns its size: 12, or kRtpMaxHeaderSize with the
// transport-wide sequence number.
size_t write_rtp_header(const RtpHeader& h, uint8_t* out);
// Parses a header; nullopt when the packet is too short or not version 2.
std::optional<RtpHeader> parse_rtp_header(const uint8_t* data, size_t size);
// The transport-wide sequence number in a packet's header extension element `id` (RFC 8285
// one-byte or two-byte form); nullopt when absent or malformed.
std::optional<uint16_t> read_transport_sequence(const uint8_t* packet, size_t size, int id);

// RFC 7983 demultiplexing of what arrives on the ICE transport.
enum class PacketClass { kStun, kDtls, kRtp, kRtcp, kUnknown };
PacketClass classify_packet(const uint8_t* data, size_t size);

}  // namespace kvs::rtc
