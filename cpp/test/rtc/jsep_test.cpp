// JSEP as pure functions (jsep.h): the camera's answer to offers captured from real stacks
// (cpp/test/rtc/offers), one named row per case, the refusals, and the viewer role's offer and
// its check of the camera's answer.
#include <gtest/gtest.h>

#include <functional>

#include "jsep.h"
#include "offers.h"

using namespace kvs::rtc;

namespace {

const char* kFingerprint =
    "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99";

// What the camera has for a row.
struct Camera {
  bool video_track = true, audio_track = false, audio_sink = false, prefer_server = false;
};

AnswerContext context_for(const Camera& cam) {
  AnswerContext c;
  c.video_track = cam.video_track;
  c.audio_track = cam.audio_track;
  c.audio_sink = cam.audio_sink;
  c.prefer_dtls_server = cam.prefer_server;
  c.video_ssrc = 1111;
  c.rtx_ssrc = 2223;
  c.audio_ssrc = 3334;
  c.ice_ufrag = "ufrag";
  c.ice_pwd = "password-of-twenty-two";
  c.fingerprint_sha256 = kFingerprint;
  c.session_id = 42;
  c.session_version = 3;
  return c;
}

// One answered section: "<kind> <direction> <payload types>" or "<kind> rejected".
std::string describe(const MediaSection& m) {
  if (m.rejected()) return m.kind + " rejected";
  std::string out = m.kind + " " + (m.kind == "application" ? "sctp" : m.direction);
  for (auto& f : m.formats) out += " " + f;
  return out;
}

struct AnswerCase {
  const char* name;
  const char* file;
  Camera camera;
  std::vector<std::string> sections;  // describe() of each answered section, in order
  int video_pt, rtx_pt;
  bool nack;
  int twcc_ext_id;
  int audio_pt;
  AudioCodec audio_codec;
  bool audio_send, audio_receive, data_channels;
  const char* setup;  // ours in the answer
};

class AnswerTable : public ::testing::TestWithParam<AnswerCase> {};

}  // namespace

TEST_P(AnswerTable, AnswersTheCapturedOffer) {
  const AnswerCase& row = GetParam();
  std::string text = read_offer(row.file);
  ASSERT_FALSE(text.empty()) << row.file;
  SessionDescription offer = parse_sdp(text);
  NegotiatedAnswer n;
  auto err = answer_offer(offer, context_for(row.camera), &n);
  ASSERT_FALSE(err) << err->message;

  std::vector<std::string> sections;
  for (auto& m : n.answer.media) sections.push_back(describe(m));
  EXPECT_EQ(sections, row.sections);
  EXPECT_EQ(n.video, row.camera.video_track);
  EXPECT_EQ(n.video_pt, row.video_pt);
  EXPECT_EQ(n.rtx_pt, row.rtx_pt);
  EXPECT_EQ(n.nack, row.nack);
  EXPECT_EQ(n.twcc_ext_id, row.twcc_ext_id);
  EXPECT_EQ(n.audio_pt, row.audio_pt);
  if (row.audio_pt >= 0) EXPECT_EQ(n.audio_codec, row.audio_codec);
  EXPECT_EQ(n.audio_send, row.audio_send);
  EXPECT_EQ(n.audio_receive, row.audio_receive);
  EXPECT_EQ(n.data_channels, row.data_channels);
  EXPECT_EQ(n.transport_mline, 0);
  EXPECT_EQ(n.transport_mid, offer.media[0].mid);
  EXPECT_EQ(n.answer.session_id, 42u);
  EXPECT_EQ(n.answer.session_version, 3u);
  EXPECT_EQ(n.answer.bundle_mids.empty(), offer.bundle_mids.empty());

  for (auto& m : n.answer.media) {
    // Every section, rejected ones too, carries our transport (webrtcbin refuses it otherwise).
    EXPECT_EQ(m.ice_ufrag, "ufrag") << m.mid;
    EXPECT_EQ(m.fingerprint, kFingerprint) << m.mid;
    EXPECT_EQ(m.setup, row.setup) << m.mid;
  }
  const MediaSection& video = n.answer.media[0];
  if (row.camera.video_track) {
    ASSERT_FALSE(video.codecs.empty());
    EXPECT_EQ(video.codecs[0].name, "H264");
    EXPECT_NE(video.codecs[0].fmtp.find("packetization-mode=1"), std::string::npos);
    EXPECT_EQ(video.ssrcs.front().ssrc, 1111u);
    bool fid = !video.ssrc_groups.empty() && video.ssrc_groups[0] == "FID 1111 2223";
    EXPECT_EQ(fid, row.rtx_pt >= 0);
    bool twcc_fb = false;
    for (auto& fb : video.codecs[0].rtcp_fb) twcc_fb |= fb == "transport-cc";
    EXPECT_EQ(twcc_fb, row.twcc_ext_id != 0);
  }
  // The answer is valid SDP that parses back to the same sections.
  SessionDescription again = parse_sdp(write_sdp(n.answer));
  ASSERT_EQ(again.media.size(), n.answer.media.size());
  for (size_t i = 0; i < again.media.size(); ++i) EXPECT_EQ(describe(again.media[i]), sections[i]);
}

INSTANTIATE_TEST_SUITE_P(
    Offers, AnswerTable,
    ::testing::Values(
        AnswerCase{"chromium_video", "chromium.sdp", {}, {"video sendonly 108 109", "audio inactive 111", "application sctp webrtc-datachannel"},
                   108, 109, true, 4, -1, AudioCodec::kOpus, false, false, true, "active"},
        AnswerCase{"chromium_talkback", "chromium.sdp", {true, true, true, false},
                   {"video sendonly 108 109", "audio sendrecv 111", "application sctp webrtc-datachannel"},
                   108, 109, true, 4, 111, AudioCodec::kOpus, true, true, true, "active"},
        AnswerCase{"chromium_dtls_server", "chromium.sdp", {true, false, false, true},
                   {"video sendonly 108 109", "audio inactive 111", "application sctp webrtc-datachannel"},
                   108, 109, true, 4, -1, AudioCodec::kOpus, false, false, true, "passive"},
        AnswerCase{"aiortc_audio_out", "aiortc.sdp", {true, true, false, false}, {"video sendonly 101 102", "audio sendonly 96"},
                   101, 102, true, 0, 96, AudioCodec::kOpus, true, false, false, "active"},
        AnswerCase{"aiortc_sink_only", "aiortc.sdp", {true, false, true, false}, {"video sendonly 101 102", "audio recvonly 96"},
                   101, 102, true, 0, 96, AudioCodec::kOpus, false, true, false, "active"},
        AnswerCase{"werift", "werift.sdp", {}, {"video sendonly 96"}, 96, -1, true, 0, -1, AudioCodec::kOpus, false, false,
                   false, "active"},
        AnswerCase{"libdatachannel", "libdatachannel.sdp", {}, {"video sendonly 96"}, 96, -1, true, 0, -1,
                   AudioCodec::kOpus, false, false, false, "active"},
        AnswerCase{"werift_no_camera_video", "werift.sdp", {false, false, false, false}, {"video inactive 96"}, -1, -1,
                   false, 0, -1, AudioCodec::kOpus, false, false, false, "active"}),
    [](const auto& info) { return std::string(info.param.name); });

namespace {

struct RefusalCase {
  const char* name;
  const char* file;
  std::function<void(SessionDescription*)> edit;
  ErrorCode code;
  const char* message_part;
  int transport_mline = -1;
};

class RefusalTable : public ::testing::TestWithParam<RefusalCase> {};

}  // namespace

TEST_P(RefusalTable, NamesWhatIsWrong) {
  const RefusalCase& row = GetParam();
  SessionDescription offer = parse_sdp(read_offer(row.file));
  row.edit(&offer);
  AnswerContext c = context_for({});
  c.transport_mline = row.transport_mline;
  NegotiatedAnswer n;
  n.video_pt = 77;
  auto err = answer_offer(offer, c, &n);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, row.code) << err->message;
  EXPECT_NE(err->message.find(row.message_part), std::string::npos) << err->message;
  EXPECT_EQ(n.video_pt, 77) << "a refused offer settles nothing";
}

INSTANTIATE_TEST_SUITE_P(
    Offers, RefusalTable,
    ::testing::Values(
        RefusalCase{"no_h264", "werift.sdp", [](SessionDescription* o) { o->media[0].codecs[0].name = "VP8"; },
                    ErrorCode::kSdpUnsupported, "has no H.264 payload type with packetization-mode=1 (offered: VP8/90000"},
        RefusalCase{"every_section_rejected", "chromium.sdp",
                    [](SessionDescription* o) {
                      for (auto& m : o->media) m.port = 0;
                    },
                    ErrorCode::kSdpUnsupported, "every media section has port 0"},
        RefusalCase{"no_video_section", "chromium.sdp",
                    [](SessionDescription* o) { o->media.erase(o->media.begin()); o->bundle_mids = {"1", "2"}; },
                    ErrorCode::kSdpUnsupported, "no video section to send H.264 in"},
        RefusalCase{"no_ice_credentials", "werift.sdp", [](SessionDescription* o) { o->media[0].ice_pwd.clear(); },
                    ErrorCode::kSdpUnsupported, "has no a=ice-ufrag/a=ice-pwd"},
        RefusalCase{"no_fingerprint", "werift.sdp", [](SessionDescription* o) { o->media[0].fingerprint.clear(); },
                    ErrorCode::kSdpUnsupported, "no DTLS fingerprint"},
        RefusalCase{"md5_fingerprint", "werift.sdp", [](SessionDescription* o) { o->media[0].fingerprint_algorithm = "md5"; },
                    ErrorCode::kSdpUnsupported, "unsupported fingerprint hash \"md5\""},
        RefusalCase{"short_fingerprint", "werift.sdp", [](SessionDescription* o) { o->media[0].fingerprint = "CC:2A"; },
                    ErrorCode::kSdpParse, "is not a sha-256 fingerprint"},
        RefusalCase{"holdconn", "werift.sdp", [](SessionDescription* o) { o->media[0].setup = "holdconn"; },
                    ErrorCode::kSdpUnsupported, "a=setup:holdconn"},
        RefusalCase{"transport_moved", "chromium.sdp", [](SessionDescription*) {}, ErrorCode::kSdpUnsupported,
                    "may not move the transport", 1}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Jsep, DtlsRoleFollowsTheOffer) {
  EXPECT_FALSE(answerer_is_dtls_client("active", false));
  EXPECT_TRUE(answerer_is_dtls_client("passive", true));
  EXPECT_TRUE(answerer_is_dtls_client("actpass", false));
  EXPECT_FALSE(answerer_is_dtls_client("actpass", true));
  // A renegotiation keeps the role the DTLS transport already has.
  SessionDescription offer = parse_sdp(read_offer("werift.sdp"));
  AnswerContext c = context_for({});
  c.dtls_client = false;
  NegotiatedAnswer n;
  ASSERT_FALSE(answer_offer(offer, c, &n));
  EXPECT_FALSE(n.dtls_client);
  EXPECT_EQ(n.answer.media[0].setup, "passive");
}

TEST(Jsep, OfferOptionsAreChecked) {
  EXPECT_FALSE(check_offer_options({true, "", false}, false));
  EXPECT_FALSE(check_offer_options({true, "sendrecv", true}, true));
  auto none = check_offer_options({false, "", true}, false);
  ASSERT_TRUE(none);
  EXPECT_EQ(none->code, ErrorCode::kInvalidArg);
  auto bad = check_offer_options({true, "sendonly", false}, false);
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->code, ErrorCode::kInvalidArg);
  EXPECT_NE(bad->message.find("\"sendonly\""), std::string::npos);
  auto no_track = check_offer_options({true, "sendrecv", false}, false);
  ASSERT_TRUE(no_track);
  EXPECT_EQ(no_track->code, ErrorCode::kInvalidState);
}

namespace {

LocalOffer viewer_offer(const OfferOptions& options) {
  OfferContext c;
  c.audio_ssrc = 5556;
  c.ice_ufrag = "view";
  c.ice_pwd = "viewer-password-twenty";
  c.fingerprint_sha256 = kFingerprint;
  c.session_id = 7;
  c.session_version = 2;
  return make_offer(options, c);
}

}  // namespace

// The viewer role's offer, answered by the camera's answer_offer, accepted by accept_answer:
// both halves of the engine agree on what they negotiated.
TEST(Jsep, ViewerOfferRoundTrip) {
  LocalOffer ours = viewer_offer({true, "sendrecv", true});
  ASSERT_EQ(ours.offer.media.size(), 3u);
  EXPECT_EQ(ours.offer.bundle_mids, (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_EQ(ours.video_pts, (std::vector<int>{102, 104, 106, 108}));
  EXPECT_EQ(ours.audio_pt, 111);
  EXPECT_TRUE(ours.audio_send);
  for (auto& m : ours.offer.media) EXPECT_EQ(m.setup, "actpass");

  SessionDescription offer = parse_sdp(write_sdp(ours.offer));
  NegotiatedAnswer camera;
  auto err = answer_offer(offer, context_for({true, true, true, false}), &camera);
  ASSERT_FALSE(err) << err->message;
  EXPECT_EQ(camera.video_pt, 102);  // constrained baseline 42e01f
  EXPECT_EQ(camera.twcc_ext_id, kOfferedTransportCcId);
  EXPECT_EQ(camera.audio_pt, 111);
  EXPECT_TRUE(camera.audio_send && camera.audio_receive);
  EXPECT_TRUE(camera.data_channels);
  EXPECT_EQ(camera.answer.media[1].direction, "sendrecv");

  SessionDescription answer = parse_sdp(write_sdp(camera.answer));
  NegotiatedOffer viewer;
  err = accept_answer(ours, answer, &viewer);
  ASSERT_FALSE(err) << err->message;
  EXPECT_EQ(viewer.twcc_ext_id, kOfferedTransportCcId);
  EXPECT_TRUE(viewer.data_channels);
  EXPECT_EQ(viewer.remote_sctp_port, 5000);
  EXPECT_FALSE(viewer.dtls_client);  // the camera took the client role (a=setup:active)
  ASSERT_NE(viewer.transport, nullptr);
  EXPECT_EQ(viewer.transport->ice_ufrag, "ufrag");
}

TEST(Jsep, ViewerRefusesABadAnswer) {
  LocalOffer ours = viewer_offer({true, "", false});
  SessionDescription offer = parse_sdp(write_sdp(ours.offer));
  NegotiatedAnswer camera;
  ASSERT_FALSE(answer_offer(offer, context_for({}), &camera));
  NegotiatedOffer n;

  SessionDescription extra = camera.answer;
  extra.media.push_back(extra.media[0]);
  auto err = accept_answer(ours, extra, &n);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, ErrorCode::kSdpParse);
  EXPECT_NE(err->message.find("it has 2 media sections, the offer had 1"), std::string::npos) << err->message;

  SessionDescription vp8 = camera.answer;
  vp8.media[0].codecs[0].payload_type = 96;
  err = accept_answer(ours, vp8, &n);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, ErrorCode::kSdpUnsupported);
  EXPECT_NE(err->message.find("no H.264 payload type we offered"), std::string::npos) << err->message;

  SessionDescription holdconn = camera.answer;
  holdconn.media[0].setup = "actpass";
  err = accept_answer(ours, holdconn, &n);
  ASSERT_TRUE(err);
  EXPECT_NE(err->message.find("a=setup must be active or passive, got \"actpass\""), std::string::npos);

  // A camera without video rejects the section: the viewer names that.
  NegotiatedAnswer no_video;
  ASSERT_FALSE(answer_offer(offer, context_for({false, false, false, false}), &no_video));
  no_video.answer.media[0].port = 0;
  err = accept_answer(ours, no_video.answer, &n);
  ASSERT_TRUE(err);
  EXPECT_NE(err->message.find("refused the first media section"), std::string::npos) << err->message;
}
