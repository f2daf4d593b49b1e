// RFC 6184 packetization: single NAL unit (5.6), STAP-A (5.7.1), FU-A (5.8) at MTU 1200.
#include <gtest/gtest.h>

#include <numeric>

#include "h264_packetizer.h"

using namespace kvs::rtc;

namespace {

std::vector<uint8_t> nal(uint8_t header, size_t size) {
  std::vector<uint8_t> n(size);
  n[0] = header;
  for (size_t i = 1; i < size; ++i) n[i] = static_cast<uint8_t>(i * 7 + 1);  // no start codes
  return n;
}

std::vector<uint8_t> annexb(const std::vector<std::vector<uint8_t>>& nals) {
  std::vector<uint8_t> out;
  for (auto& n : nals) {
    out.insert(out.end(), {0, 0, 0, 1});
    out.insert(out.end(), n.begin(), n.end());
  }
  return out;
}

// Reassembles NAL units from payloads, as a receiver does (RFC 6184 section 7).
std::vector<std::vector<uint8_t>> depacketize(const std::vector<RtpPayload>& payloads) {
  std::vector<std::vector<uint8_t>> out;
  std::vector<uint8_t> fu;
  for (auto& p : payloads) {
    uint8_t type = p.data[0] & 0x1f;
    if (type == 24) {
      size_t i = 1;
      while (i + 2 <= p.data.size()) {
        size_t len = p.data[i] << 8 | p.data[i + 1];
        out.emplace_back(p.data.begin() + i + 2, p.data.begin() + i + 2 + len);
        i += 2 + len;
      }
    } else if (type == 28) {
      if (p.data[1] & 0x80) fu = {static_cast<uint8_t>((p.data[0] & 0xe0) | (p.data[1] & 0x1f))};
      fu.insert(fu.end(), p.data.begin() + 2, p.data.end());
      if (p.data[1] & 0x40) out.push_back(fu);
    } else {
      out.push_back(p.data);
    }
  }
  return out;
}

}  // namespace

TEST(H264Packetizer, SmallNalIsASingleNalUnitPacket) {
  H264Packetizer p(1200);
  auto slice = nal(0x41, 500);
  auto out = p.packetize(annexb({slice}).data(), annexb({slice}).size());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].data, slice);
  EXPECT_TRUE(out[0].marker);
}

TEST(H264Packetizer, ParameterSetsAndIdrAreAggregatedInStapA) {
  H264Packetizer p(1200);
  auto sps = nal(0x67, 20), pps = nal(0x68, 6), idr = nal(0x65, 300);
  auto bytes = annexb({sps, pps, idr});
  auto out = p.packetize(bytes.data(), bytes.size());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].data[0] & 0x1f, 24);
  EXPECT_EQ(out[0].data[0] & 0x60, 0x60);  // NRI: the highest of the aggregated units
  EXPECT_EQ(out[0].data.size(), 1u + 2 + 20 + 2 + 6 + 2 + 300);
  auto nals = depacketize(out);
  ASSERT_EQ(nals.size(), 3u);
  EXPECT_EQ(nals[0], sps);
  EXPECT_EQ(nals[1], pps);
  EXPECT_EQ(nals[2], idr);
}

TEST(H264Packetizer, LargeNalIsFragmentedIntoFuA) {
  H264Packetizer p(1200);
  auto idr = nal(0x65, 5000);
  auto bytes = annexb({idr});
  auto out = p.packetize(bytes.data(), bytes.size());
  ASSERT_EQ(out.size(), 5u);  // 4999 bytes after the header / 1198 per fragment
  for (size_t i = 0; i < out.size(); ++i) {
    EXPECT_LE(out[i].data.size(), 1200u);
    EXPECT_EQ(out[i].data[0], (0x65 & 0xe0) | 28);
    EXPECT_EQ(out[i].data[1] & 0x1f, 5);
    EXPECT_EQ(bool(out[i].data[1] & 0x80), i == 0);               // S bit
    EXPECT_EQ(bool(out[i].data[1] & 0x40), i == out.size() - 1);  // E bit
    EXPECT_EQ(out[i].marker, i == out.size() - 1);
  }
  auto nals = depacketize(out);
  ASSERT_EQ(nals.size(), 1u);
  EXPECT_EQ(nals[0], idr);
}

TEST(H264Packetizer, ExactlyMtuSizedNalIsNotFragmented) {
  H264Packetizer p(1200);
  auto slice = nal(0x41, 1200);
  auto bytes = annexb({slice});
  auto out = p.packetize(bytes.data(), bytes.size());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].data.size(), 1200u);
}

TEST(H264Packetizer, CachedParameterSetsPrecedeAnIdrThatLacksThem) {
  H264Packetizer p(1200);
  auto sps = nal(0x67, 20), pps = nal(0x68, 6), idr = nal(0x65, 3000), slice = nal(0x41, 100);
  auto first = annexb({sps, pps, idr});
  p.packetize(first.data(), first.size());
  auto plain_slice = annexb({slice});
  auto out = p.packetize(plain_slice.data(), plain_slice.size());
  EXPECT_EQ(depacketize(out).size(), 1u);  // a P frame gets no parameter sets
  auto lone_idr = annexb({idr});
  out = p.packetize(lone_idr.data(), lone_idr.size());
  auto nals = depacketize(out);
  ASSERT_EQ(nals.size(), 3u);
  EXPECT_EQ(nals[0], sps);
  EXPECT_EQ(nals[1], pps);
  EXPECT_EQ(nals[2], idr);
}

TEST(H264Packetizer, ForbiddenAndReservedNalsAreDropped) {
  H264Packetizer p(1200);
  auto bad = nal(0x80 | 0x01, 10), reserved = nal(0x1e, 10), ok = nal(0x41, 10);
  auto bytes = annexb({bad, reserved, ok});
  auto nals = depacketize(p.packetize(bytes.data(), bytes.size()));
  ASSERT_EQ(nals.size(), 1u);
  EXPECT_EQ(nals[0], ok);
}

TEST(H264Packetizer, EmptyAndGarbageInputGiveNoPackets) {
  H264Packetizer p(1200);
  EXPECT_TRUE(p.packetize(nullptr, 0).empty());
  uint8_t junk[] = {1, 2, 3, 4, 5};
  EXPECT_TRUE(p.packetize(junk, sizeof junk).empty());
}
