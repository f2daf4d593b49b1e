// Transport-wide congestion control: feedback parse/write (draft-holmer-rmcat-transport-wide-cc-
// extensions-01 3.1) from hand-built packets, the RTP header extension (RFC 8285), and the
// sender's estimate / receiver's feedback (twcc.h).
#include <gtest/gtest.h>

#include "rtcp.h"
#include "rtp.h"
#include "twcc.h"

using namespace kvs::rtc;

namespace {

// Base 0xFFFE, 12 packets (0xFFFE .. 9: the sequence wraps), reference 16 (x 64 ms), count 7.
// Chunks: run of 3 small (0xFFFE, 0xFFFF, 0); a 2-bit vector for 1..7 = lost, large, small,
// lost, small, lost, lost; a 1-bit vector for 8, 9 = received, received.
std::vector<uint8_t> hand_built() {
  return {0x8f, 205, 0x00, 0x08, 0, 0, 0, 1, 0, 0, 0, 2,
          0xff, 0xfe, 0x00, 0x0c, 0x00, 0x00, 0x10, 0x07,
          0x20, 0x03, 0xc9, 0x10, 0xb0, 0x00,
          4, 8, 0, 0xff, 0x9c, 0xff, 1, 2, 3, 0};
}

}  // namespace

TEST(TransportFeedback, ParsesHandBuiltPacketAcrossTheWrap) {
  auto pkt = hand_built();
  std::vector<RtcpPacket> out;
  ASSERT_TRUE(parse_rtcp(pkt.data(), pkt.size(), &out));
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].type, RtcpPacket::kTransportCc) << out[0].error;
  EXPECT_EQ(out[0].sender_ssrc, 1u);
  EXPECT_EQ(out[0].media_ssrc, 2u);
  const TransportFeedback& fb = out[0].transport_cc;
  EXPECT_EQ(fb.base_sequence, 0xfffe);
  EXPECT_EQ(fb.reference_time, 16);
  EXPECT_EQ(fb.feedback_count, 7);
  ASSERT_EQ(fb.packets.size(), 12u);
  const uint16_t seqs[] = {0xfffe, 0xffff, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  const bool received[] = {true, true, true, false, true, true, false, true, false, false, true, true};
  const int deltas[] = {4, 8, 0, 0, -100, 255, 0, 1, 0, 0, 2, 3};
  for (size_t i = 0; i < 12; ++i) {
    EXPECT_EQ(fb.packets[i].sequence, seqs[i]) << i;
    EXPECT_EQ(fb.packets[i].received, received[i]) << i;
    if (received[i]) EXPECT_EQ(fb.packets[i].delta, deltas[i]) << i;
  }
}

TEST(TransportFeedback, NegativeReferenceTime) {
  auto pkt = hand_built();
  pkt[16] = 0xff, pkt[17] = 0xff, pkt[18] = 0xfe;  // -2
  std::vector<RtcpPacket> out;
  ASSERT_TRUE(parse_rtcp(pkt.data(), pkt.size(), &out));
  ASSERT_EQ(out[0].type, RtcpPacket::kTransportCc);
  EXPECT_EQ(out[0].transport_cc.reference_time, -2);
}

TEST(TransportFeedback, MalformedIsRefusedWithAReasonAndTheCompoundGoesOn) {
  std::vector<uint8_t> pli(12);
  write_pli(1, 2, pli.data());
  struct Case {
    const char* name;
    std::vector<uint8_t> pkt;
    const char* reason;
  };
  std::vector<Case> cases;
  // Only 4 bytes of FCI (length 3 words).
  cases.push_back({"short header", {0x8f, 205, 0x00, 0x03, 0, 0, 0, 1, 0, 0, 0, 2, 0xff, 0xfe, 0x00, 0x0c}, "8-byte header"});
  // Status count 0.
  cases.push_back({"count 0", {0x8f, 205, 0x00, 0x04, 0, 0, 0, 1, 0, 0, 0, 2, 0, 1, 0, 0, 0, 0, 0, 0}, "status count of 0"});
  // Count 100 but a run of 3 and a vector of 14, and then the packet ends.
  cases.push_back({"chunks end", {0x8f, 205, 0x00, 0x05, 0, 0, 0, 1, 0, 0, 0, 2, 0, 1, 0, 100, 0, 0, 0, 0, 0x20, 0x03, 0x80, 0},
                   "chunks end"});
  // Count 3, run of 3 large deltas (symbol 2), only 2 delta bytes.
  cases.push_back({"deltas end", {0x8f, 205, 0x00, 0x05, 0, 0, 0, 1, 0, 0, 0, 2, 0, 1, 0, 3, 0, 0, 0, 0, 0x40, 0x03, 0, 1},
                   "receive deltas end"});
  // Reserved symbol 3 in a run.
  cases.push_back({"symbol 3", {0x8f, 205, 0x00, 0x05, 0, 0, 0, 1, 0, 0, 0, 2, 0, 1, 0, 1, 0, 0, 0, 0, 0x60, 0x01, 0, 0},
                   "reserved status symbol"});
  // A run of 0.
  cases.push_back({"run 0", {0x8f, 205, 0x00, 0x05, 0, 0, 0, 1, 0, 0, 0, 2, 0, 1, 0, 1, 0, 0, 0, 0, 0x20, 0x00, 0, 0},
                   "run of 0"});
  for (auto& c : cases) {
    std::vector<uint8_t> compound = c.pkt;
    compound.insert(compound.end(), pli.begin(), pli.end());
    std::vector<RtcpPacket> out;
    ASSERT_TRUE(parse_rtcp(compound.data(), compound.size(), &out)) << c.name;
    ASSERT_EQ(out.size(), 2u) << c.name;
    EXPECT_EQ(out[0].type, RtcpPacket::kMalformed) << c.name;
    EXPECT_NE(out[0].error.find(c.reason), std::string::npos) << c.name << ": " << out[0].error;
    EXPECT_EQ(out[1].type, RtcpPacket::kPli) << c.name;
  }
  // A length field beyond the datagram: the parse stops, nothing is read.
  auto pkt = hand_built();
  pkt[3] = 0x20;
  std::vector<RtcpPacket> out;
  EXPECT_FALSE(parse_rtcp(pkt.data(), pkt.size(), &out));
}

TEST(TransportFeedback, WriteThenParseRoundTrips) {
  TransportFeedback fb;
  fb.base_sequence = 65500;  // wraps inside
  fb.reference_time = 0x7fffff;
  fb.feedback_count = 255;
  // Patterns that exercise every chunk kind: long runs, mixed small, large and negative deltas.
  for (int i = 0; i < 300; ++i) {
    TransportFeedback::Packet p;
    p.sequence = static_cast<uint16_t>(fb.base_sequence + i);
    if (i < 40) p.received = true, p.delta = 4;                     // run of small
    else if (i < 70) p.received = false;                            // run of lost
    else if (i < 100) p.received = (i % 3) != 0, p.delta = i % 250;  // 1-bit vectors
    else if (i < 120) p.received = (i % 2) == 0, p.delta = (i % 4 == 0) ? -3 : 700;  // 2-bit vectors
    else p.received = (i % 7) != 0, p.delta = (i % 11 == 0) ? 32767 : 17;
    if (i == 299) p.received = true;
    fb.packets.push_back(p);
  }
  std::vector<uint8_t> buf;
  size_t len = write_transport_feedback(9, 10, fb, &buf);
  ASSERT_EQ(len, buf.size());
  ASSERT_EQ(len % 4, 0u);
  std::vector<RtcpPacket> out;
  ASSERT_TRUE(parse_rtcp(buf.data(), buf.size(), &out));
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].type, RtcpPacket::kTransportCc) << out[0].error;
  const auto& got = out[0].transport_cc;
  EXPECT_EQ(got.base_sequence, 65500);
  EXPECT_EQ(got.reference_time & 0xffffff, 0x7fffff);
  EXPECT_EQ(got.feedback_count, 255);
  ASSERT_EQ(got.packets.size(), fb.packets.size());
  for (size_t i = 0; i < fb.packets.size(); ++i) {
    EXPECT_EQ(got.packets[i].sequence, fb.packets[i].sequence) << i;
    EXPECT_EQ(got.packets[i].received, fb.packets[i].received) << i;
    if (fb.packets[i].received) EXPECT_EQ(got.packets[i].delta, fb.packets[i].delta) << i;
  }
}

TEST(TransportSequence, HeaderExtensionWriteAndRead) {
  uint8_t buf[64] = {};
  RtpHeader h;
  h.payload_type = 102;
  h.sequence = 7;
  h.ssrc = 42;
  h.transport_cc_id = 5;
  h.transport_sequence = 0xfffe;
  ASSERT_EQ(write_rtp_header(h, buf), kRtpMaxHeaderSize);
  auto parsed = parse_rtp_header(buf, 30);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->header_size, kRtpMaxHeaderSize);
  EXPECT_EQ(parsed->ssrc, 42u);
  EXPECT_EQ(read_transport_sequence(buf, 30, 5), std::optional<uint16_t>(0xfffe));
  EXPECT_FALSE(read_transport_sequence(buf, 30, 4));  // another id
  EXPECT_FALSE(read_transport_sequence(buf, 19, 5));  // truncated
  h.transport_cc_id = 0;
  EXPECT_EQ(write_rtp_header(h, buf), kRtpHeaderSize);
  EXPECT_FALSE(read_transport_sequence(buf, 30, 5));
  // Two-byte form (RFC 8285 4.3), after another element and padding.
  uint8_t two[] = {0x90, 102, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0x10, 0x00, 0x00, 0x02,
                   9, 1, 0xaa, 0, 12, 2, 0x12, 0x34, 0, 0, 0, 0};
  EXPECT_EQ(read_transport_sequence(two, sizeof two, 12), std::optional<uint16_t>(0x1234));
  // One-byte element whose length runs past the extension.
  uint8_t bad[] = {0x90, 102, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0xbe, 0xde, 0x00, 0x01, 0x5f, 0, 0, 0};
  EXPECT_FALSE(read_transport_sequence(bad, sizeof bad, 5));
}

TEST(TwccReceiver, FeedbackAcrossTheWrapWithALoss) {
  TwccReceiver rx;
  int64_t t = 1000000;
  for (uint16_t s = 65530; s != 6; ++s, t += 1000)
    if (s != 2) rx.on_packet(s, t);  // 2 is lost
  rx.on_packet(65533, t);  // a duplicate is reported once
  TransportFeedback fb;
  ASSERT_TRUE(rx.build_feedback(&fb));
  EXPECT_EQ(fb.base_sequence, 65530);
  ASSERT_EQ(fb.packets.size(), 12u);
  for (size_t i = 0; i < 12; ++i) EXPECT_EQ(fb.packets[i].received, fb.packets[i].sequence != 2) << i;
  // Deltas add up to the arrival times: 1 ms = 4 ticks apart.
  EXPECT_EQ(fb.packets[1].delta, 4);
  EXPECT_EQ(fb.packets[9].delta, 8);  // across the lost one
  // Through the writer and parser.
  std::vector<uint8_t> buf;
  write_transport_feedback(1, 2, fb, &buf);
  std::vector<RtcpPacket> out;
  ASSERT_TRUE(parse_rtcp(buf.data(), buf.size(), &out));
  ASSERT_EQ(out[0].type, RtcpPacket::kTransportCc);
  EXPECT_EQ(out[0].transport_cc.packets.size(), 12u);
  EXPECT_FALSE(rx.build_feedback(&fb));  // nothing new
  rx.on_packet(2, t);                    // late: already reported as lost
  EXPECT_FALSE(rx.build_feedback(&fb));
  rx.on_packet(6, t + 1000);
  ASSERT_TRUE(rx.build_feedback(&fb));
  EXPECT_EQ(fb.base_sequence, 6);
  EXPECT_EQ(fb.feedback_count, 1);
}

namespace {

// Sends `kbps` for `ms` in 1200-byte packets through a path that delivers at most `path_kbps`
// (a queue: each packet arrives when the link has carried the ones before it) and drops every
// packet whose index % drop_every == 0 (0 = none). Feedback every 100 ms goes to the sender.
struct PathSim {
  TwccSender sender{1000};
  TwccReceiver rx;
  int64_t now = 1000000;
  int64_t link_free = 0;
  uint64_t n = 0;
  void run(double kbps, double path_kbps, int ms, int drop_every = 0) {
    int64_t end = now + ms * 1000LL;
    int64_t next_feedback = now + 100000;
    double gap_us = 1200 * 8 * 1000.0 / kbps;
    double acc = 0;
    while (now < end) {
      uint16_t seq = sender.next_sequence();
      sender.on_sent(seq, 1200, now);
      ++n;
      if (!(drop_every && n % drop_every == 0)) {
        int64_t tx = static_cast<int64_t>(1200 * 8 * 1000.0 / path_kbps);
        link_free = std::max(link_free, now) + tx;
        rx.on_packet(seq, link_free + 20000);
      }
      acc += gap_us;
      now = 1000000 + static_cast<int64_t>(acc);
      if (now >= next_feedback) {
        TransportFeedback fb;
        while (rx.build_feedback(&fb)) sender.on_feedback(fb, now);
        next_feedback += 100000;
      }
    }
  }
};

}  // namespace

TEST(TwccSender, GrowsOnAClearPath) {
  PathSim sim;
  sim.run(1000, 10000, 5000);
  EXPECT_EQ(sim.sender.signal(), TwccSender::Signal::kNormal);
  EXPECT_NEAR(sim.sender.loss_fraction(), 0.0, 1e-9);
  EXPECT_NEAR(sim.sender.acked_kbps(), 1000, 100);
  EXPECT_GT(sim.sender.estimate_kbps(), 1000);
  EXPECT_LE(sim.sender.estimate_kbps(), 1600);  // never far beyond what was acknowledged
  EXPECT_GT(sim.sender.feedback_count(), 40u);
}

TEST(TwccSender, QueueGrowthReadsAsOveruseAndDecreases) {
  PathSim sim;
  sim.run(1000, 600, 3000);  // the link carries 600 kbps: its queue grows steadily
  EXPECT_LT(sim.sender.estimate_kbps(), 700) << "trend " << sim.sender.trend() << " threshold " << sim.sender.threshold();
  EXPECT_NEAR(sim.sender.loss_fraction(), 0.0, 1e-9);
}

TEST(TwccSender, LossAboveTenPercentDecreases) {
  PathSim sim;
  sim.run(1000, 100000, 5000, 4);  // 25 % lost, no queue: -12.5 % per 0.5 s
  EXPECT_NEAR(sim.sender.loss_fraction(), 0.25, 0.02);
  EXPECT_LT(sim.sender.estimate_kbps(), 500);
  EXPECT_GE(sim.sender.estimate_kbps(), 30);
}

TEST(TwccSender, IgnoresFeedbackForPacketsNeverSent) {
  TwccSender sender(800);
  TransportFeedback fb;
  fb.base_sequence = 40000;
  for (int i = 0; i < 50; ++i) fb.packets.push_back({static_cast<uint16_t>(40000 + i), i % 2 == 0, 4});
  sender.on_feedback(fb, 1000000);
  sender.on_feedback(fb, 2000000);
  EXPECT_EQ(sender.feedback_count(), 2u);
  EXPECT_LT(sender.loss_fraction(), 0);  // nothing learnt
  EXPECT_EQ(sender.estimate_kbps(), 800);
}
