// SRTP/SRTCP round trips through libsrtp2 with both DTLS-SRTP profiles.
#include <gtest/gtest.h>

#include <cstring>

#include "rtcp.h"
#include "rtp.h"
#include "srtp_session.h"

using namespace kvs::rtc;

namespace {

std::vector<uint8_t> key_for(SrtpProfile p, uint8_t seed) {
  std::vector<uint8_t> k(srtp_key_length(p) + srtp_salt_length(p));
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(seed + i * 3);
  return k;
}

class SrtpRoundTrip : public ::testing::TestWithParam<SrtpProfile> {};

}  // namespace

TEST_P(SrtpRoundTrip, RtpProtectThenUnprotect) {
  SrtpProfile profile = GetParam();
  auto key = key_for(profile, 7);
  SrtpSession out, in;
  std::string error;
  ASSERT_TRUE(out.init(SrtpSession::kOutbound, profile, key.data(), key.size(), &error)) << error;
  ASSERT_TRUE(in.init(SrtpSession::kInbound, profile, key.data(), key.size(), &error)) << error;
  for (uint16_t seq = 100; seq < 110; ++seq) {
    uint8_t buf[1500 + kSrtpMaxTrailer] = {};
    RtpHeader h;
    h.payload_type = 96;
    h.sequence = seq;
    h.timestamp = 9000u * seq;
    h.ssrc = 0x12345678;
    write_rtp_header(h, buf);
    for (size_t i = 0; i < 400; ++i) buf[12 + i] = static_cast<uint8_t>(i);
    std::vector<uint8_t> plain(buf, buf + 412);
    size_t len = 412;
    ASSERT_TRUE(out.protect_rtp(buf, &len));
    EXPECT_GT(len, 412u);
    EXPECT_NE(std::memcmp(buf + 12, plain.data() + 12, 400), 0);  // payload encrypted
    ASSERT_TRUE(in.unprotect_rtp(buf, &len));
    ASSERT_EQ(len, 412u);
    EXPECT_EQ(std::vector<uint8_t>(buf, buf + len), plain);
  }
}

TEST_P(SrtpRoundTrip, TamperedPacketIsRejected) {
  SrtpProfile profile = GetParam();
  auto key = key_for(profile, 9);
  SrtpSession out, in;
  std::string error;
  ASSERT_TRUE(out.init(SrtpSession::kOutbound, profile, key.data(), key.size(), &error));
  ASSERT_TRUE(in.init(SrtpSession::kInbound, profile, key.data(), key.size(), &error));
  uint8_t buf[200 + kSrtpMaxTrailer] = {};
  RtpHeader h;
  h.sequence = 1;
  h.ssrc = 42;
  write_rtp_header(h, buf);
  size_t len = 100;
  ASSERT_TRUE(out.protect_rtp(buf, &len));
  buf[50] ^= 0x01;
  EXPECT_FALSE(in.unprotect_rtp(buf, &len));
}

TEST_P(SrtpRoundTrip, RtcpSenderReportRoundTrip) {
  SrtpProfile profile = GetParam();
  auto key = key_for(profile, 3);
  SrtpSession out, in;
  std::string error;
  ASSERT_TRUE(out.init(SrtpSession::kOutbound, profile, key.data(), key.size(), &error));
  ASSERT_TRUE(in.init(SrtpSession::kInbound, profile, key.data(), key.size(), &error));
  uint8_t buf[64 + kSrtpMaxTrailer];
  size_t len = write_sender_report(0xabcdef01, 0x0102030405060708ULL, 90000, 10, 12000, buf);
  ASSERT_TRUE(out.protect_rtcp(buf, &len));
  ASSERT_TRUE(in.unprotect_rtcp(buf, &len));
  std::vector<RtcpPacket> packets;
  ASSERT_TRUE(parse_rtcp(buf, len, &packets));
  ASSERT_EQ(packets.size(), 1u);
  EXPECT_EQ(packets[0].type, RtcpPacket::kSenderReport);
  EXPECT_EQ(packets[0].sender_ssrc, 0xabcdef01u);
  EXPECT_EQ(packets[0].ntp_timestamp, 0x0102030405060708ULL);
}

TEST_P(SrtpRoundTrip, WrongKeyFailsToUnprotect) {
  SrtpProfile profile = GetParam();
  auto k1 = key_for(profile, 1), k2 = key_for(profile, 2);
  SrtpSession out, in;
  std::string error;
  ASSERT_TRUE(out.init(SrtpSession::kOutbound, profile, k1.data(), k1.size(), &error));
  ASSERT_TRUE(in.init(SrtpSession::kInbound, profile, k2.data(), k2.size(), &error));
  uint8_t buf[200 + kSrtpMaxTrailer] = {};
  RtpHeader h;
  h.ssrc = 5;
  write_rtp_header(h, buf);
  size_t len = 120;
  ASSERT_TRUE(out.protect_rtp(buf, &len));
  EXPECT_FALSE(in.unprotect_rtp(buf, &len));
}

INSTANTIATE_TEST_SUITE_P(Profiles, SrtpRoundTrip,
                         ::testing::Values(SrtpProfile::kAes128CmSha1_80, SrtpProfile::kAeadAes128Gcm),
                         [](const auto& info) {
                           return info.param == SrtpProfile::kAeadAes128Gcm ? "AeadAes128Gcm" : "Aes128CmSha1_80";
                         });

TEST(Srtp, WrongKeyLengthIsRefused) {
  SrtpSession s;
  std::string error;
  uint8_t key[10] = {};
  EXPECT_FALSE(s.init(SrtpSession::kOutbound, SrtpProfile::kAes128CmSha1_80, key, sizeof key, &error));
  EXPECT_NE(error.find("length"), std::string::npos);
}
