// Receiver-side statistics (RFC 3550 A.3, A.8) and the receiver report that carries them.
#include <gtest/gtest.h>

#include <vector>

#include "receive_stats.h"
#include "rtcp.h"
#include "rtp.h"

namespace kvs::rtc {
namespace {

TEST(ReceiveStatistics, CountsLossAcrossSequenceWrapAndReportsTheInterval) {
  ReceiveStatistics rx(90000);
  int64_t t = 1'000'000;
  // 65530..65535 then 0..9: 16 packets expected, 2 missing (65533 and 4).
  for (uint32_t s = 65530; s < 65546; ++s) {
    uint16_t seq = static_cast<uint16_t>(s);
    if (seq == 65533 || seq == 4) continue;
    rx.on_packet(seq, 3000 * (s - 65530), t);
    t += 33'333;
  }
  EXPECT_EQ(rx.received(), 14u);
  EXPECT_EQ(rx.lost(), 2u);
  ReportBlock b = rx.report_block(0x1234, t);
  EXPECT_EQ(b.ssrc, 0x1234u);
  EXPECT_EQ(b.highest_sequence, 65545u);  // cycles in the high 16 bits: 1 wrap
  EXPECT_EQ(b.cumulative_lost, 2);
  EXPECT_EQ(b.fraction_lost, (2 << 8) / 16);
  // Nothing lost in the next interval: fraction 0, cumulative stays.
  for (uint16_t seq = 10; seq < 20; ++seq) rx.on_packet(seq, 3000 * (seq + 6), t += 33'333);
  b = rx.report_block(0x1234, t);
  EXPECT_EQ(b.fraction_lost, 0);
  EXPECT_EQ(b.cumulative_lost, 2);
  EXPECT_EQ(b.last_sr, 0u) << "no sender report seen yet";
}

TEST(ReceiveStatistics, JitterFollowsArrivalVariationAndDuplicatesAreNotLoss) {
  ReceiveStatistics steady(90000), jumpy(90000);
  for (int i = 0; i < 200; ++i) {
    steady.on_packet(static_cast<uint16_t>(i), 3000u * i, 33'333LL * i);
    jumpy.on_packet(static_cast<uint16_t>(i), 3000u * i, 33'333LL * i + (i % 2 ? 10'000 : 0));  // +-10 ms
  }
  EXPECT_LT(steady.report_block(1, 0).jitter, 5u);
  // 10 ms at 90 kHz is 900 units; the estimate converges towards it.
  EXPECT_GT(jumpy.report_block(1, 0).jitter, 600u);
  ReceiveStatistics dup(8000);
  for (int i = 0; i < 5; ++i) dup.on_packet(7, 160, 0);
  EXPECT_EQ(dup.lost(), 0u);
}

TEST(ReceiveStatistics, ReportsTheLastSenderReportAndTheDelaySinceIt) {
  ReceiveStatistics rx(48000);
  rx.on_packet(1, 960, 0);
  uint64_t ntp = (uint64_t{0x11223344} << 32) | 0x55667788;
  rx.on_sender_report(ntp, 2'000'000);
  ReportBlock b = rx.report_block(9, 2'500'000);
  EXPECT_EQ(b.last_sr, 0x33445566u);  // the middle 32 bits
  EXPECT_EQ(b.delay_since_last_sr, 65536u / 2);  // 0.5 s in 1/65536 s
}

TEST(ReceiverReport, WritesWhatTheParserReads) {
  std::vector<ReportBlock> blocks(2);
  blocks[0] = {0xAABBCCDD, 25, 1234, 0x0001FFFF, 77, 0x33445566, 32768};
  blocks[1] = {0x01020304, 0, -3, 42, 0, 0, 0};
  uint8_t buf[8 + 24 * 2];
  size_t len = write_receiver_report(0x99, blocks, buf);
  ASSERT_EQ(len, sizeof buf);
  std::vector<RtcpPacket> packets;
  parse_rtcp(buf, len, &packets);
  ASSERT_EQ(packets.size(), 1u);
  const RtcpPacket& p = packets[0];
  EXPECT_EQ(p.type, RtcpPacket::kReceiverReport);
  EXPECT_EQ(p.sender_ssrc, 0x99u);
  ASSERT_EQ(p.reports.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(p.reports[i].ssrc, blocks[i].ssrc);
    EXPECT_EQ(p.reports[i].fraction_lost, blocks[i].fraction_lost);
    EXPECT_EQ(p.reports[i].cumulative_lost, blocks[i].cumulative_lost);
    EXPECT_EQ(p.reports[i].highest_sequence, blocks[i].highest_sequence);
    EXPECT_EQ(p.reports[i].jitter, blocks[i].jitter);
    EXPECT_EQ(p.reports[i].last_sr, blocks[i].last_sr);
    EXPECT_EQ(p.reports[i].delay_since_last_sr, blocks[i].delay_since_last_sr);
  }
}

}  // namespace
}  // namespace kvs::rtc
