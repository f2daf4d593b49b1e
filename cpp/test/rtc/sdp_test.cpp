// SDP parser/writer and H.264 choice, on offers captured from real stacks (cpp/test/rtc/offers).
#include <gtest/gtest.h>

#include "offers.h"
#include "sdp.h"

using namespace kvs::rtc;

namespace {

const MediaSection* first_of_kind(const SessionDescription& s, const std::string& kind) {
  for (auto& m : s.media)
    if (m.kind == kind) return &m;
  return nullptr;
}

struct OfferCase {
  const char* file;
  size_t sections;
  int expected_h264_pt;  // constrained baseline with packetization-mode=1
};

class RealOffers : public ::testing::TestWithParam<OfferCase> {};

}  // namespace

TEST_P(RealOffers, ParsesAndChoosesConstrainedBaseline) {
  const OfferCase& c = GetParam();
  std::string text = read_offer(c.file);
  ASSERT_FALSE(text.empty()) << c.file;
  SessionDescription sdp = parse_sdp(text);
  EXPECT_EQ(sdp.media.size(), c.sections);
  const MediaSection* video = first_of_kind(sdp, "video");
  ASSERT_NE(video, nullptr);
  EXPECT_FALSE(video->ice_ufrag.empty());
  EXPECT_FALSE(video->ice_pwd.empty());
  EXPECT_EQ(video->fingerprint_algorithm, "sha-256");
  EXPECT_EQ(video->fingerprint.size(), 95u);  // 32 bytes as XX: pairs
  EXPECT_FALSE(video->mid.empty());
  auto choice = choose_h264(*video);
  ASSERT_TRUE(choice.has_value());
  EXPECT_EQ(choice->payload_type, c.expected_h264_pt);
  EXPECT_NE(choice->fmtp.find("packetization-mode=1"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Stacks, RealOffers,
                         ::testing::Values(OfferCase{"chromium.sdp", 3, 108},
                                           OfferCase{"werift.sdp", 1, 96},
                                           OfferCase{"libdatachannel.sdp", 1, 96},
                                           OfferCase{"aiortc.sdp", 2, 101}),
                         [](const auto& info) {
                           std::string n = info.param.file;
                           return n.substr(0, n.find('.'));
                         });

TEST(Sdp, ChromiumOfferDetails) {
  SessionDescription sdp = parse_sdp(read_offer("chromium.sdp"));
  ASSERT_EQ(sdp.bundle_mids.size(), 3u);
  const MediaSection* video = first_of_kind(sdp, "video");
  EXPECT_EQ(video->direction, "recvonly");
  EXPECT_TRUE(video->rtcp_mux);
  EXPECT_EQ(video->setup, "actpass");
  EXPECT_FALSE(video->extmaps.empty());
  const MediaSection* app = first_of_kind(sdp, "application");
  ASSERT_NE(app, nullptr);
  EXPECT_EQ(app->sctp_port, 5000);
  // The H.264 codec keeps its feedback types.
  auto choice = choose_h264(*video);
  ASSERT_TRUE(choice);
  bool has_pli = false;
  for (auto& fb : choice->rtcp_fb) has_pli |= fb == "nack pli";
  EXPECT_TRUE(has_pli);
  EXPECT_GE(choice->rtx_payload_type, 0);
}

TEST(Sdp, SessionLevelAttributesReachEveryMedia) {
  SessionDescription sdp = parse_sdp(read_offer("libdatachannel.sdp"));
  EXPECT_EQ(sdp.media[0].fingerprint.substr(0, 5), "55:4E");
  EXPECT_EQ(sdp.media[0].candidates.size(), 2u);
  EXPECT_TRUE(sdp.media[0].end_of_candidates);
  EXPECT_EQ(sdp.media[0].ice_options.size(), 2u);
}

TEST(Sdp, WriteThenParseRoundTrips) {
  SessionDescription sdp = parse_sdp(read_offer("chromium.sdp"));
  SessionDescription again = parse_sdp(write_sdp(sdp));
  ASSERT_EQ(again.media.size(), sdp.media.size());
  EXPECT_EQ(again.bundle_mids, sdp.bundle_mids);
  for (size_t i = 0; i < sdp.media.size(); ++i) {
    EXPECT_EQ(again.media[i].mid, sdp.media[i].mid);
    EXPECT_EQ(again.media[i].codecs.size(), sdp.media[i].codecs.size());
    EXPECT_EQ(again.media[i].fingerprint, sdp.media[i].fingerprint);
    EXPECT_EQ(again.media[i].candidates, sdp.media[i].candidates);
    EXPECT_EQ(again.media[i].direction, sdp.media[i].direction);
  }
  std::string text = write_sdp(sdp);
  EXPECT_EQ(text.find('\n'), text.find("\r\n") + 1);  // CRLF line ends
}

TEST(Sdp, AcceptsLfOnlyAndBlankLines) {
  std::string crlf = read_offer("werift.sdp");
  std::string lf;
  for (char ch : crlf)
    if (ch != '\r') lf.push_back(ch);
  lf += "\n\n";
  EXPECT_EQ(parse_sdp(lf).media.size(), 1u);
}

struct BadSdp {
  const char* name;
  const char* text;
  const char* message_part;
};

class MalformedSdp : public ::testing::TestWithParam<BadSdp> {};

TEST_P(MalformedSdp, ThrowsParseErrorNamingTheProblem) {
  const BadSdp& c = GetParam();
  try {
    parse_sdp(c.text);
    FAIL() << "accepted: " << c.name;
  } catch (const SdpError& e) {
    EXPECT_EQ(e.kind(), SdpError::kParse);
    EXPECT_NE(std::string(e.what()).find(c.message_part), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, MalformedSdp,
    ::testing::Values(
        BadSdp{"empty", "", "empty"},
        BadSdp{"garbage", "hello world", "not a"},
        BadSdp{"no_version", "o=- 1 2 IN IP4 0.0.0.0\r\n", "v=0"},
        BadSdp{"no_media", "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n", "no media"},
        BadSdp{"short_mline", "v=0\r\nm=video 9\r\n", "media line"},
        BadSdp{"bad_port", "v=0\r\nm=video abc UDP/TLS/RTP/SAVPF 96\r\n", "port"},
        BadSdp{"bad_pt", "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 300\r\n", "payload type"},
        BadSdp{"bad_rtpmap", "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96\r\n", "rtpmap"},
        BadSdp{"bad_rtpmap_clock", "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 H264/x\r\n", "rtpmap"},
        BadSdp{"bad_extmap", "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=extmap:0 urn:x\r\n", "extmap"},
        BadSdp{"bad_ssrc", "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=ssrc:-5 cname:x\r\n", "ssrc"},
        BadSdp{"bad_fingerprint", "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=fingerprint:sha-256\r\n", "fingerprint"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Sdp, TruncatedOffersNeverCrash) {
  std::string text = read_offer("chromium.sdp");
  for (size_t n = 0; n < text.size(); n += 7) {
    try {
      SessionDescription s = parse_sdp(text.substr(0, n));
      for (auto& m : s.media) (void)choose_h264(m);
    } catch (const SdpError&) {
    }
  }
}

TEST(Sdp, ChooseH264PrefersConstrainedBaselineAndNeedsMode1) {
  SessionDescription sdp = parse_sdp(
      "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 100 101 102 103\r\n"
      "a=rtpmap:100 H264/90000\r\na=fmtp:100 packetization-mode=0;profile-level-id=42e01f\r\n"
      "a=rtpmap:101 H264/90000\r\na=fmtp:101 packetization-mode=1;profile-level-id=640c1f\r\n"
      "a=rtpmap:102 H264/90000\r\na=fmtp:102 packetization-mode=1;profile-level-id=42e01f\r\n"
      "a=rtpmap:103 rtx/90000\r\na=fmtp:103 apt=102\r\n");
  auto choice = choose_h264(sdp.media[0]);
  ASSERT_TRUE(choice);
  EXPECT_EQ(choice->payload_type, 102);
  EXPECT_EQ(choice->rtx_payload_type, 103);

  SessionDescription only_mode0 = parse_sdp(
      "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 100\r\n"
      "a=rtpmap:100 H264/90000\r\na=fmtp:100 profile-level-id=42e01f\r\n");
  EXPECT_FALSE(choose_h264(only_mode0.media[0]));

  SessionDescription vp8 = parse_sdp("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n");
  EXPECT_FALSE(choose_h264(vp8.media[0]));

  SessionDescription high_only = parse_sdp(
      "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 100\r\n"
      "a=rtpmap:100 H264/90000\r\na=fmtp:100 packetization-mode=1;profile-level-id=640032\r\n");
  auto high = choose_h264(high_only.media[0]);
  ASSERT_TRUE(high);  // a High profile decoder decodes constrained baseline
  EXPECT_EQ(high->payload_type, 100);
}

TEST(Sdp, CandidateValidation) {
  EXPECT_TRUE(is_valid_candidate("candidate:1 1 UDP 2015363327 192.0.2.2 33180 typ host"));
  EXPECT_TRUE(is_valid_candidate("a=candidate:3 1 TCP 1010827519 ::1 55939 typ host tcptype passive"));
  EXPECT_FALSE(is_valid_candidate("candidate:1 1 UDP"));
  EXPECT_FALSE(is_valid_candidate("candidate:1 x UDP 1 1.2.3.4 5 typ host"));
  EXPECT_FALSE(is_valid_candidate("candidate:1 1 SCTP 1 1.2.3.4 5 typ host"));
  EXPECT_FALSE(is_valid_candidate("candidate:1 1 UDP 1 1.2.3.4 70000 typ host"));
  EXPECT_FALSE(is_valid_candidate("garbage"));
}
