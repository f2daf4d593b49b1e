// libFuzzer target: RTCP compound parsing, RTP header parsing and RFC 7983 demultiplexing of
// packets that arrive from the network (after SRTP, so attacker-shaped plaintext is possible).
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "rtp.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)kvs::rtc::classify_packet(data, size);
  if (auto h = kvs::rtc::parse_rtp_header(data, size)) {
    if (h->header_size > size) std::abort();
  }
  std::vector<kvs::rtc::RtcpPacket> packets;
  kvs::rtc::parse_rtcp(data, size, &packets);
  for (const auto& p : packets) {
    if (p.nack_sequences.size() > size * 17) std::abort();  // at most 17 per 4-byte FCI entry
    if (p.reports.size() > 31) std::abort();                 // RC is 5 bits
  }
  return 0;
}
