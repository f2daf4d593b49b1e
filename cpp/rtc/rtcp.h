// The RTCP packets the engine reads and writes: SR/RR (RFC 3550 6.4), generic NACK (RFC 4585
// 6.2.1), PLI (RFC 4585 6.3.1), FIR (RFC 5104 4.3.1), REMB (draft-alvestrand-rmcat-remb) and
// transport-wide congestion control feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01
// 3.1). Plain functions; any thread.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace kvs::rtc {

struct ReportBlock {
  uint32_t ssrc = 0;
  uint8_t fraction_lost = 0;
  int32_t cumulative_lost = 0;
  uint32_t highest_sequence = 0;
  uint32_t jitter = 0;
  uint32_t last_sr = 0;
  uint32_t delay_since_last_sr = 0;
};

// Transport-wide feedback (RTPFB FMT 15): one entry per packet from base_sequence on.
struct TransportFeedback {
  uint16_t base_sequence = 0;
  int32_t reference_time = 0;  // 24-bit signed, multiples of 64 ms
  uint8_t feedback_count = 0;  // fb pkt. count, wraps at 256
  struct Packet {
    uint16_t sequence = 0;
    bool received = false;
    int32_t delta = 0;  // received: 250 us ticks since the previous received packet (the first: since reference_time)
  };
  std::vector<Packet> packets;
};
constexpr int64_t kTransportDeltaUs = 250;
constexpr int64_t kTransportReferenceUs = 64000;

// Parses the FCI of a transport-wide feedback packet (after the media SSRC). false + *error
// (what is wrong) when it is malformed.
bool parse_transport_feedback(const uint8_t* fci, size_t size, TransportFeedback* out, std::string* error);
// Writes a transport-wide feedback packet: run-length chunks for runs of 14 or more equal
// symbols, else status vectors (1-bit when every delta is small). Deltas outside an int16 are
// not representable: the caller splits there. Returns its size (a multiple of 4).
size_t write_transport_feedback(uint32_t sender_ssrc, uint32_t media_ssrc, const TransportFeedback& fb,
                                std::vector<uint8_t>* out);

// One parsed RTCP packet of a compound packet.
struct RtcpPacket {
  enum Type { kSenderReport, kReceiverReport, kNack, kPli, kFir, kRemb, kTransportCc, kMalformed, kOther } type = kOther;
  uint32_t sender_ssrc = 0;
  uint32_t media_ssrc = 0;
  std::vector<ReportBlock> reports;       // SR/RR
  uint64_t ntp_timestamp = 0;             // SR
  std::vector<uint16_t> nack_sequences;   // NACK: every lost sequence number
  uint64_t remb_bitrate = 0;              // REMB, bits per second
  std::vector<uint32_t> remb_ssrcs;
  TransportFeedback transport_cc;         // kTransportCc
  std::string error;                      // kMalformed: what is wrong
};

// Parses a compound RTCP packet. Malformed packets stop the parse; what was read before stays.
// Returns false when nothing valid was found.
bool parse_rtcp(const uint8_t* data, size_t size, std::vector<RtcpPacket>* out);

// Writes a sender report with no report blocks (RFC 3550 6.4.1). Returns its size (28).
size_t write_sender_report(uint32_t ssrc, uint64_t ntp, uint32_t rtp_timestamp,
                           uint32_t packet_count, uint32_t octet_count, uint8_t* out);
// Writes a receiver report (RFC 3550 6.4.2) with up to 31 report blocks. Returns its size
// (8 + 24 per block); `out` must hold that.
size_t write_receiver_report(uint32_t sender_ssrc, const std::vector<ReportBlock>& blocks, uint8_t* out);
// Writes a PLI (RFC 4585 6.3.1). Returns its size (12).
size_t write_pli(uint32_t sender_ssrc, uint32_t media_ssrc, uint8_t* out);
// Writes a generic NACK (RFC 4585 6.2.1) covering the given sequence numbers. Returns its size.
size_t write_nack(uint32_t sender_ssrc, uint32_t media_ssrc, const std::vector<uint16_t>& seqs,
                  std::vector<uint8_t>* out);

// NTP time now (RFC 3550 4), 32.32 fixed point.
uint64_t ntp_now();

}  // namespace kvs::rtc
