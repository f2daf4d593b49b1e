// RTCP parsing (RFC 3550, RFC 4585, RFC 5104, REMB) and RFC 7983 demultiplexing.
#include <gtest/gtest.h>

#include "rtcp.h"
#include "rtp.h"

using namespace kvs::rtc;

TEST(Rtcp, ReceiverReportBlock) {
  // RR from SSRC 0x01020304 with one block about SSRC 0xaabbccdd.
  std::vector<uint8_t> rr = {0x81, 201, 0x00, 0x07, 0x01, 0x02, 0x03, 0x04,
                             0xaa, 0xbb, 0xcc, 0xdd, 0x40, 0xff, 0xff, 0xfe,  // 25 % lost, cumulative -2
                             0x00, 0x01, 0x00, 0x10, 0x00, 0x00, 0x00, 0x5a,
                             0x12, 0x34, 0x56, 0x78, 0x00, 0x01, 0x00, 0x00};
  std::vector<RtcpPacket> out;
  ASSERT_TRUE(parse_rtcp(rr.data(), rr.size(), &out));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].type, RtcpPacket::kReceiverReport);
  ASSERT_EQ(out[0].reports.size(), 1u);
  const ReportBlock& b = out[0].reports[0];
  EXPECT_EQ(b.ssrc, 0xaabbccddu);
  EXPECT_EQ(b.fraction_lost, 0x40);
  EXPECT_EQ(b.cumulative_lost, -2);
  EXPECT_EQ(b.highest_sequence, 0x00010010u);
  EXPECT_EQ(b.jitter, 90u);
  EXPECT_EQ(b.last_sr, 0x12345678u);
  EXPECT_EQ(b.delay_since_last_sr, 0x00010000u);
}

TEST(Rtcp, CompoundWithPliFirNackRemb) {
  std::vector<uint8_t> pkt;
  uint8_t pli[12];
  write_pli(1, 2, pli);
  pkt.insert(pkt.end(), pli, pli + 12);
  std::vector<uint8_t> fir = {0x84, 206, 0x00, 0x04, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 7, 0, 0, 0};
  pkt.insert(pkt.end(), fir.begin(), fir.end());
  std::vector<uint8_t> nack;
  write_nack(1, 2, {100, 101, 105, 116, 117, 200}, &nack);
  pkt.insert(pkt.end(), nack.begin(), nack.end());
  // REMB: 1 SSRC, exp 2, mantissa 250000 -> 1,000,000 bps
  uint32_t mantissa = 250000;
  std::vector<uint8_t> remb = {0x8f, 206, 0x00, 0x05, 0, 0, 0, 1, 0, 0, 0, 0, 'R', 'E', 'M', 'B', 1,
                               static_cast<uint8_t>((2 << 2) | (mantissa >> 16)),
                               static_cast<uint8_t>(mantissa >> 8), static_cast<uint8_t>(mantissa),
                               0, 0, 0, 2};
  pkt.insert(pkt.end(), remb.begin(), remb.end());

  std::vector<RtcpPacket> out;
  ASSERT_TRUE(parse_rtcp(pkt.data(), pkt.size(), &out));
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].type, RtcpPacket::kPli);
  EXPECT_EQ(out[0].media_ssrc, 2u);
  EXPECT_EQ(out[1].type, RtcpPacket::kFir);
  EXPECT_EQ(out[1].media_ssrc, 2u);
  EXPECT_EQ(out[2].type, RtcpPacket::kNack);
  EXPECT_EQ(out[2].nack_sequences, (std::vector<uint16_t>{100, 101, 105, 116, 117, 200}));
  EXPECT_EQ(out[3].type, RtcpPacket::kRemb);
  EXPECT_EQ(out[3].remb_bitrate, 1000000u);
  EXPECT_EQ(out[3].remb_ssrcs, std::vector<uint32_t>{2});
}

TEST(Rtcp, NackAcrossSequenceWrap) {
  std::vector<uint8_t> nack;
  write_nack(1, 2, {65534, 65535, 0, 1}, &nack);
  std::vector<RtcpPacket> out;
  ASSERT_TRUE(parse_rtcp(nack.data(), nack.size(), &out));
  EXPECT_EQ(out[0].nack_sequences, (std::vector<uint16_t>{65534, 65535, 0, 1}));
}

TEST(Rtcp, MalformedInputIsRejectedWithoutReadingPastTheEnd) {
  std::vector<RtcpPacket> out;
  std::vector<uint8_t> too_long = {0x80, 201, 0x00, 0x20, 0, 0, 0, 1};  // says 132 bytes
  EXPECT_FALSE(parse_rtcp(too_long.data(), too_long.size(), &out));
  std::vector<uint8_t> bad_version = {0x40, 201, 0x00, 0x01, 0, 0, 0, 1};
  EXPECT_FALSE(parse_rtcp(bad_version.data(), bad_version.size(), &out));
  EXPECT_FALSE(parse_rtcp(nullptr, 0, &out));
  // An RR claiming 5 blocks with room for none parses with no blocks.
  std::vector<uint8_t> liar = {0x85, 201, 0x00, 0x01, 0, 0, 0, 1};
  ASSERT_TRUE(parse_rtcp(liar.data(), liar.size(), &out));
  EXPECT_TRUE(out.back().reports.empty());
}

TEST(Rtp, HeaderRoundTripAndExtensions) {
  uint8_t buf[64] = {};
  RtpHeader h;
  h.marker = true;
  h.payload_type = 102;
  h.sequence = 65535;
  h.timestamp = 0xdeadbeef;
  h.ssrc = 0x01020304;
  write_rtp_header(h, buf);
  auto parsed = parse_rtp_header(buf, 20);
  ASSERT_TRUE(parsed);
  EXPECT_TRUE(parsed->marker);
  EXPECT_EQ(parsed->payload_type, 102);
  EXPECT_EQ(parsed->sequence, 65535);
  EXPECT_EQ(parsed->timestamp, 0xdeadbeefu);
  EXPECT_EQ(parsed->ssrc, 0x01020304u);
  EXPECT_EQ(parsed->header_size, 12u);
  buf[0] |= 0x10;  // one-byte extension header, 1 word
  buf[12] = 0xbe; buf[13] = 0xde; buf[14] = 0; buf[15] = 1;
  parsed = parse_rtp_header(buf, 20);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->header_size, 20u);
  EXPECT_FALSE(parse_rtp_header(buf, 16));  // extension runs past the end
  EXPECT_FALSE(parse_rtp_header(buf, 11));
}

TEST(Rtp, Rfc7983Demultiplexing) {
  uint8_t stun[] = {0x00, 0x01}, dtls[] = {22, 0xfe}, rtp[] = {0x80, 96}, rtcp[] = {0x80, 200},
          junk[] = {70, 0};
  EXPECT_EQ(classify_packet(stun, 2), PacketClass::kStun);
  EXPECT_EQ(classify_packet(dtls, 2), PacketClass::kDtls);
  EXPECT_EQ(classify_packet(rtp, 2), PacketClass::kRtp);
  EXPECT_EQ(classify_packet(rtcp, 2), PacketClass::kRtcp);
  EXPECT_EQ(classify_packet(junk, 2), PacketClass::kUnknown);
  EXPECT_EQ(classify_packet(junk, 0), PacketClass::kUnknown);
}
