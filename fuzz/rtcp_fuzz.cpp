// libFuzzer target: RTCP compound parsing, RTP header parsing and RFC 7983 demultiplexing of
// packets that arrive from the network (after SRTP, so attacker-shaped plaintext is possible),
// including transport-wide feedback, which is also fed to the sender's estimator, and the
// transport-wide sequence number in RTP header extensions.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "rtcp.h"
#include "rtp.h"
#include "twcc.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)kvs::rtc::classify_packet(data, size);
  if (auto h = kvs::rtc::parse_rtp_header(data, size)) {
    if (h->header_size > size) std::abort();
  }
  for (int id = 1; id <= 14; id += 13) (void)kvs::rtc::read_transport_sequence(data, size, id);
  std::vector<kvs::rtc::RtcpPacket> packets;
  kvs::rtc::parse_rtcp(data, size, &packets);
  static kvs::rtc::TwccSender sender(1000);
  static int64_t now = 0;
  for (const auto& p : packets) {
    if (p.nack_sequences.size() > size * 17) std::abort();  // at most 17 per 4-byte FCI entry
    if (p.reports.size() > 31) std::abort();                 // RC is 5 bits
    if (p.type == kvs::rtc::RtcpPacket::kTransportCc) {
      if (p.transport_cc.packets.empty() || p.transport_cc.packets.size() > 65535) std::abort();
      for (const auto& pk : p.transport_cc.packets) {
        now += 1000;
        sender.on_sent(pk.sequence, 1200, now);
      }
      sender.on_feedback(p.transport_cc, now);
      if (sender.estimate_kbps() < 30) std::abort();  // clamped
      // What was parsed writes back to a packet that parses the same.
      std::vector<uint8_t> buf;
      auto fb = p.transport_cc;
      bool representable = true;
      for (const auto& pk : fb.packets) representable &= pk.delta >= INT16_MIN && pk.delta <= INT16_MAX;
      if (representable && fb.packets.size() < 20000) {
        kvs::rtc::write_transport_feedback(1, 2, fb, &buf);
        std::vector<kvs::rtc::RtcpPacket> again;
        if (!kvs::rtc::parse_rtcp(buf.data(), buf.size(), &again) || again[0].type != kvs::rtc::RtcpPacket::kTransportCc ||
            again[0].transport_cc.packets.size() != fb.packets.size())
          std::abort();
      }
    } else if (p.type == kvs::rtc::RtcpPacket::kMalformed && p.error.empty()) {
      std::abort();  // a refusal always says why
    }
  }
  return 0;
}
