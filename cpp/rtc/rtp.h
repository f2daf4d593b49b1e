// RTP (RFC 3550) headers and the RTCP packets the engine reads and writes:
// SR/RR (RFC 3550 6.4), generic NACK (RFC 4585 6.2.1), PLI (RFC 4585 6.3.1),
// FIR (RFC 5104 4.3.1), REMB (draft-alvestrand-rmcat-remb).
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace kvs::rtc {

constexpr size_t kRtpHeaderSize = 12;

struct RtpHeader {
  bool marker = false;
  uint8_t payload_type = 0;
  uint16_t sequence = 0;
  uint32_t timestamp = 0;
  uint32_t ssrc = 0;
  size_t header_size = kRtpHeaderSize;  // including CSRCs and extensions, when parsed
};

// Writes a 12-byte header (no CSRC, no extension) at out[0..12).
void write_rtp_header(const RtpHeader& h, uint8_t* out);
// Parses a header; nullopt when the packet is too short or not version 2.
std::optional<RtpHeader> parse_rtp_header(const uint8_t* data, size_t size);

// RFC 7983 demultiplexing of what arrives on the ICE transport.
enum class PacketClass { kStun, kDtls, kRtp, kRtcp, kUnknown };
PacketClass classify_packet(const uint8_t* data, size_t size);

struct ReportBlock {
  uint32_t ssrc = 0;
  uint8_t fraction_lost = 0;
  int32_t cumulative_lost = 0;
  uint32_t highest_sequence = 0;
  uint32_t jitter = 0;
  uint32_t last_sr = 0;
  uint32_t delay_since_last_sr = 0;
};

// One parsed RTCP packet of a compound packet.
struct RtcpPacket {
  enum Type { kSenderReport, kReceiverReport, kNack, kPli, kFir, kRemb, kOther } type = kOther;
  uint32_t sender_ssrc = 0;
  uint32_t media_ssrc = 0;
  std::vector<ReportBlock> reports;       // SR/RR
  uint64_t ntp_timestamp = 0;             // SR
  std::vector<uint16_t> nack_sequences;   // NACK: every lost sequence number
  uint64_t remb_bitrate = 0;              // REMB, bits per second
  std::vector<uint32_t> remb_ssrcs;
};

// Parses a compound RTCP packet. Malformed packets stop the parse; what was read before stays.
// Returns false when nothing valid was found.
bool parse_rtcp(const uint8_t* data, size_t size, std::vector<RtcpPacket>* out);

// Writes a sender report with no report blocks (RFC 3550 6.4.1). Returns its size (28).
size_t write_sender_report(uint32_t ssrc, uint64_t ntp, uint32_t rtp_timestamp,
                           uint32_t packet_count, uint32_t octet_count, uint8_t* out);
// Writes a PLI (RFC 4585 6.3.1). Returns its size (12).
size_t write_pli(uint32_t sender_ssrc, uint32_t media_ssrc, uint8_t* out);
// Writes a generic NACK (RFC 4585 6.2.1) covering the given sequence numbers. Returns its size.
size_t write_nack(uint32_t sender_ssrc, uint32_t media_ssrc, const std::vector<uint16_t>& seqs,
                  std::vector<uint8_t>* out);

// NTP time now (RFC 3550 4), 32.32 fixed point.
uint64_t ntp_now();

}  // namespace kvs::rtc
