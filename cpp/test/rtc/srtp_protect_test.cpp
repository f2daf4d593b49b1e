// Outbound SRTP through OpenSSL (srtp_protect.h) against libsrtp2 as the reference: the same
// keys and packets must give the same bytes, across a sequence-number wrap, for several SSRCs,
// with CSRCs and header extensions, for both DTLS-SRTP profiles; and libsrtp2 must accept them.
#include <gtest/gtest.h>
#include <srtp2/srtp.h>

#include <cstring>
#include <vector>

#include "srtp_protect.h"
#include "srtp_session.h"

using namespace kvs::rtc;

namespace {

std::vector<uint8_t> key_for(SrtpProfile p, uint8_t seed) {
  std::vector<uint8_t> k(srtp_key_length(p) + srtp_salt_length(p));
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(seed * 31 + i * 7);
  return k;
}

// libsrtp2 used directly: the reference outbound context.
srtp_t reference(SrtpProfile p, std::vector<uint8_t>& key) {
  std::string error;
  EXPECT_TRUE(srtp_library_init(&error)) << error;
  srtp_policy_t policy;
  std::memset(&policy, 0, sizeof policy);
  if (p == SrtpProfile::kAeadAes128Gcm) {
    srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtp);
    srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtcp);
  } else {
    srtp_crypto_policy_set_rtp_default(&policy.rtp);
    srtp_crypto_policy_set_rtcp_default(&policy.rtcp);
  }
  policy.ssrc.type = ssrc_any_outbound;
  policy.key = key.data();
  policy.window_size = 1024;
  policy.allow_repeat_tx = 1;
  srtp_t s = nullptr;
  EXPECT_EQ(srtp_create(&s, &policy), srtp_err_status_ok);
  return s;
}

// An RTP packet: CSRCs and a one-byte-header extension when asked, a payload of `size` bytes.
std::vector<uint8_t> packet(uint32_t ssrc, uint16_t seq, size_t size, int csrcs, bool extension) {
  std::vector<uint8_t> p = {static_cast<uint8_t>(0x80 | (extension ? 0x10 : 0) | csrcs), 96,
                            static_cast<uint8_t>(seq >> 8), static_cast<uint8_t>(seq),
                            0, 1, 2, 3,
                            static_cast<uint8_t>(ssrc >> 24), static_cast<uint8_t>(ssrc >> 16),
                            static_cast<uint8_t>(ssrc >> 8), static_cast<uint8_t>(ssrc)};
  for (int i = 0; i < csrcs * 4; ++i) p.push_back(static_cast<uint8_t>(0xc0 + i));
  if (extension) {
    for (uint8_t b : {0xBE, 0xDE, 0x00, 0x01, 0x31, 0x12, 0x34, 0x00}) p.push_back(b);
  }
  for (size_t i = 0; i < size; ++i) p.push_back(static_cast<uint8_t>(seq * 7 + i));
  return p;
}

class RtpProtectorVsLibsrtp : public ::testing::TestWithParam<SrtpProfile> {};

}  // namespace

TEST_P(RtpProtectorVsLibsrtp, SameBytesAcrossTheWrapForSeveralStreams) {
  SrtpProfile profile = GetParam();
  auto key = key_for(profile, 3);
  std::string error;
  auto ours = RtpProtector::create(profile, key.data(), key.size(), &error);
  ASSERT_TRUE(ours) << error;
  srtp_t ref = reference(profile, key);
  ASSERT_NE(ref, nullptr);
  size_t compared = 0;
  // Video from 65000 through the wrap; a second stream (RTX-like) and audio interleaved.
  for (int i = 0; i < 1200; ++i) {
    struct { uint32_t ssrc; uint16_t seq; size_t size; int csrcs; bool ext; } cases[] = {
        {0x11111111, static_cast<uint16_t>(65000 + i), 1200 - static_cast<size_t>(i % 5) * 97, 0, true},
        {0x22222222, static_cast<uint16_t>(30000 + i * 3), static_cast<size_t>(i % 300), i % 3, i % 2 == 0},
        {0x33333333, static_cast<uint16_t>(65530 + i / 2), 160, 0, false},  // repeats: allow_repeat_tx
    };
    for (auto& c : cases) {
      auto p = packet(c.ssrc, c.seq, c.size, c.csrcs, c.ext);
      std::vector<uint8_t> a(p.size() + kSrtpMaxTrailer), b(p.size() + kSrtpMaxTrailer);
      std::memcpy(a.data(), p.data(), p.size());
      std::memcpy(b.data(), p.data(), p.size());
      size_t alen = p.size();
      int blen = static_cast<int>(p.size());
      ASSERT_TRUE(ours->protect(a.data(), &alen)) << "packet " << i;
      ASSERT_EQ(srtp_protect(ref, b.data(), &blen), srtp_err_status_ok) << "packet " << i;
      ASSERT_EQ(alen, static_cast<size_t>(blen)) << "packet " << i << " ssrc " << c.ssrc;
      ASSERT_EQ(std::memcmp(a.data(), b.data(), alen), 0) << "packet " << i << " ssrc " << c.ssrc << " seq " << c.seq;
      ++compared;
    }
  }
  EXPECT_EQ(compared, 3600u);
  srtp_dealloc(ref);
}

TEST_P(RtpProtectorVsLibsrtp, SessionProtectsWhatLibsrtpUnprotects) {
  SrtpProfile profile = GetParam();
  auto key = key_for(profile, 9);
  SrtpSession out, in;
  std::string error;
  ASSERT_TRUE(out.init(SrtpSession::kOutbound, profile, key.data(), key.size(), &error)) << error;
  ASSERT_TRUE(in.init(SrtpSession::kInbound, profile, key.data(), key.size(), &error)) << error;
  for (uint32_t n = 0; n < 70000; n += 7) {  // past the wrap: the receiver follows the counter
    uint16_t seq = static_cast<uint16_t>(65500 + n);
    auto p = packet(0xabcdef01, seq, 300, 0, true);
    std::vector<uint8_t> buf(p.size() + kSrtpMaxTrailer);
    std::memcpy(buf.data(), p.data(), p.size());
    size_t len = p.size();
    ASSERT_TRUE(out.protect_rtp(buf.data(), &len));
    ASSERT_TRUE(in.unprotect_rtp(buf.data(), &len)) << "seq " << seq << " after " << n;
    ASSERT_EQ(len, p.size());
    ASSERT_EQ(std::memcmp(buf.data(), p.data(), len), 0);
  }
}

TEST(RtpProtector, RefusesWhatIsNotAnRtpPacket) {
  auto key = key_for(SrtpProfile::kAes128CmSha1_80, 1);
  std::string error;
  auto p = RtpProtector::create(SrtpProfile::kAes128CmSha1_80, key.data(), key.size(), &error);
  ASSERT_TRUE(p);
  uint8_t buf[64 + kSrtpMaxTrailer] = {0x80, 96};
  size_t len = 11;  // shorter than a header
  EXPECT_FALSE(p->protect(buf, &len));
  buf[0] = 0x40;  // version 1
  len = 40;
  EXPECT_FALSE(p->protect(buf, &len));
  buf[0] = 0x8f;  // 15 CSRCs in a 40-byte packet
  EXPECT_FALSE(p->protect(buf, &len));
  buf[0] = 0x90;  // an extension whose length runs past the end
  buf[12] = 0xBE; buf[13] = 0xDE; buf[14] = 0x00; buf[15] = 0x20;
  EXPECT_FALSE(p->protect(buf, &len));
  EXPECT_EQ(len, 40u);
  EXPECT_FALSE(RtpProtector::create(SrtpProfile::kAes128CmSha1_80, key.data(), key.size() - 1, &error));
  EXPECT_NE(error.find("wrong length"), std::string::npos);
}

TEST(RtpProtector, RolloverCounterFollowsTheHighestSequence) {
  auto key = key_for(SrtpProfile::kAes128CmSha1_80, 2);
  std::string error;
  auto p = RtpProtector::create(SrtpProfile::kAes128CmSha1_80, key.data(), key.size(), &error);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->index(1, 65534), 65534u);
  EXPECT_EQ(p->index(1, 65535), 65535u);
  EXPECT_EQ(p->index(1, 2), 65536u + 2);       // wrapped
  EXPECT_EQ(p->index(1, 65533), 65533u);       // a retransmission from before the wrap
  EXPECT_EQ(p->index(1, 3), 65536u + 3);       // still after it
  EXPECT_EQ(p->index(2, 40000), 40000u);       // another SSRC starts at 0
  EXPECT_EQ(p->index(2, 100), 65536u + 100);   // its own wrap
}

INSTANTIATE_TEST_SUITE_P(Profiles, RtpProtectorVsLibsrtp,
                         ::testing::Values(SrtpProfile::kAes128CmSha1_80, SrtpProfile::kAeadAes128Gcm));
