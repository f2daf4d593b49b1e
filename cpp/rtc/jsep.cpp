#include "jsep.h"

#include <algorithm>
#include <cctype>

#include "rtp.h"
#include "sctp_transport.h"

namespace kvs::rtc {
namespace {

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

const RtpCodec* find_opus(const MediaSection& m) {
  for (auto& c : m.codecs) {
    std::string name = c.name;
    for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (name == "opus" && c.clock_rate == 48000) return &c;
  }
  return nullptr;
}

// Opus first, else PCMU, else PCMA; sets *codec.
const RtpCodec* find_audio_codec(const MediaSection& m, AudioCodec* codec) {
  if (const RtpCodec* opus = find_opus(m)) {
    *codec = AudioCodec::kOpus;
    return opus;
  }
  for (const char* name : {"PCMU", "PCMA"})
    for (auto& c : m.codecs)
      if (c.clock_rate == 8000 && (c.name == name || (c.name.size() == 4 && std::equal(c.name.begin(), c.name.end(), name, [](char a, char b) { return std::toupper(static_cast<unsigned char>(a)) == b; })))) {
        *codec = name[3] == 'U' ? AudioCodec::kPcmu : AudioCodec::kPcma;
        return &c;
      }
  return nullptr;
}

bool supported_feedback(const std::string& fb) {
  return fb == "nack" || fb == "nack pli" || fb == "ccm fir" || fb == "goog-remb";
}

// RFC 8122 5: hash name and the digest as upper-case hex pairs separated by colons.
bool valid_fingerprint(const std::string& algorithm, const std::string& fp) {
  size_t bytes = algorithm == "sha-1" ? 20 : algorithm == "sha-224" ? 28 : algorithm == "sha-256" ? 32
               : algorithm == "sha-384" ? 48 : algorithm == "sha-512" ? 64 : 0;
  if (bytes == 0 || fp.size() != bytes * 3 - 1) return false;
  for (size_t i = 0; i < fp.size(); ++i) {
    if (i % 3 == 2) {
      if (fp[i] != ':') return false;
    } else if (!std::isxdigit(static_cast<unsigned char>(fp[i]))) {
      return false;
    }
  }
  return true;
}

std::string codec_list(const MediaSection& m) {
  std::string out;
  for (auto& c : m.codecs) {
    if (c.name.empty()) continue;
    if (!out.empty()) out += ", ";
    out += c.name + "/" + std::to_string(c.clock_rate);
    auto params = c.fmtp_params();
    if (params.count("packetization-mode")) out += " packetization-mode=" + params["packetization-mode"];
  }
  return out.empty() ? "none" : out;
}

PeerError unsupported(const std::string& message) { return PeerError{ErrorCode::kSdpUnsupported, message}; }

// Our transport attributes (ICE, DTLS) on an answered section.
void set_transport(const AnswerContext& c, bool dtls_client, MediaSection* a) {
  a->ice_ufrag = c.ice_ufrag;
  a->ice_pwd = c.ice_pwd;
  a->fingerprint_algorithm = "sha-256";
  a->fingerprint = c.fingerprint_sha256;
  a->setup = dtls_client ? "active" : "passive";
}

// Negotiated for a section when the offer has the header extension with an id a one-byte header
// can carry (1..14) and the codec offers transport-cc feedback; one id for the whole transport.
void accept_transport_cc(const MediaSection& offered, const std::vector<std::string>& offered_fb, RtpCodec* codec,
                         MediaSection* answer, int* ext_id) {
  if (!contains(offered_fb, "transport-cc")) return;
  for (const auto& e : offered.extmaps) {
    if (e.uri != kTransportCcUri || e.id < 1 || e.id > 14 || (*ext_id && e.id != *ext_id)) continue;
    *ext_id = e.id;
    codec->rtcp_fb.push_back("transport-cc");
    answer->extmaps.push_back({e.id, "", kTransportCcUri});
    return;
  }
}

// The first usable section: the BUNDLE tag, or the first one when the offer does not bundle
// (then only that section is accepted). -1 when every section is rejected.
int transport_section(const SessionDescription& offer) {
  bool bundled = !offer.bundle_mids.empty();
  for (size_t i = 0; i < offer.media.size(); ++i) {
    const auto& m = offer.media[i];
    if (!m.rejected() && (!bundled || contains(offer.bundle_mids, m.mid))) return static_cast<int>(i);
  }
  return -1;
}

std::optional<PeerError> check_transport(const MediaSection& t) {
  if (t.ice_ufrag.empty() || t.ice_pwd.empty())
    return unsupported("offer rejected: media section mid=" + t.mid + " has no a=ice-ufrag/a=ice-pwd");
  if (t.fingerprint.empty())
    return unsupported("offer rejected: no DTLS fingerprint (a=fingerprint) for mid=" + t.mid);
  if (t.fingerprint_algorithm != "sha-1" && t.fingerprint_algorithm != "sha-224" &&
      t.fingerprint_algorithm != "sha-256" && t.fingerprint_algorithm != "sha-384" &&
      t.fingerprint_algorithm != "sha-512")
    return unsupported("offer rejected: unsupported fingerprint hash \"" + t.fingerprint_algorithm + "\"");
  if (!valid_fingerprint(t.fingerprint_algorithm, t.fingerprint))
    return PeerError{ErrorCode::kSdpParse, "offer rejected: a=fingerprint \"" + t.fingerprint.substr(0, 120) +
                                               "\" is not a " + t.fingerprint_algorithm +
                                               " fingerprint (hex bytes separated by ':')"};
  if (t.setup == "holdconn") return unsupported("offer rejected: a=setup:holdconn is not supported");
  return std::nullopt;
}

// H.264 (RFC 6184) with the feedback we act on, and RTX (RFC 4588) when NACK is negotiated.
// false + *problem when the section has no H.264 we can send.
bool answer_video(const MediaSection& m, const AnswerContext& c, MediaSection* a, std::vector<RtpCodec>* codecs,
                  NegotiatedAnswer* n, std::string* problem) {
  auto choice = choose_h264(m);
  if (!choice) {
    *problem = "offer rejected: video section mid=" + m.mid +
               " has no H.264 payload type with packetization-mode=1 (offered: " + codec_list(m) + ")";
    return false;
  }
  RtpCodec h264;
  h264.payload_type = choice->payload_type;
  h264.name = "H264";
  h264.clock_rate = 90000;
  h264.fmtp = choice->fmtp;
  n->nack = false;
  for (auto& fb : choice->rtcp_fb) {
    if (supported_feedback(fb)) h264.rtcp_fb.push_back(fb);
    if (fb == "nack") n->nack = true;
  }
  accept_transport_cc(m, choice->rtcp_fb, &h264, a, &n->twcc_ext_id);
  codecs->push_back(h264);
  n->video = true;
  n->video_pt = h264.payload_type;
  a->direction = (m.direction.empty() || m.direction == "sendrecv" || m.direction == "recvonly") ? "sendonly" : "inactive";
  a->msid = "kvs-edge kvs-edge-video";
  a->ssrcs.push_back({c.video_ssrc, "cname:kvs-edge"});
  a->ssrcs.push_back({c.video_ssrc, "msid:kvs-edge kvs-edge-video"});
  n->rtx_pt = -1;
  if (choice->rtx_payload_type >= 0 && n->nack) {
    // RFC 4588: retransmissions on their own SSRC and payload type, grouped with FID.
    RtpCodec rtx;
    rtx.payload_type = choice->rtx_payload_type;
    rtx.name = "rtx";
    rtx.clock_rate = 90000;
    rtx.fmtp = "apt=" + std::to_string(h264.payload_type);
    codecs->push_back(rtx);
    n->rtx_pt = rtx.payload_type;
    a->ssrc_groups.push_back("FID " + std::to_string(c.video_ssrc) + " " + std::to_string(c.rtx_ssrc));
    a->ssrcs.push_back({c.rtx_ssrc, "cname:kvs-edge"});
    a->ssrcs.push_back({c.rtx_ssrc, "msid:kvs-edge kvs-edge-video"});
  }
  return true;
}

// Opus (RFC 7587), else G.711 PCMU/PCMA (RFC 3551) when that is all the viewer offers: we send
// the tone when the viewer can receive, and take its talk-back when it sends and a sink is
// configured.
void answer_audio(const MediaSection& m, const RtpCodec& offered, const AnswerContext& c, MediaSection* a,
                  std::vector<RtpCodec>* codecs, NegotiatedAnswer* n) {
  RtpCodec codec = offered;
  std::vector<std::string> offered_fb = std::move(codec.rtcp_fb);
  codec.rtcp_fb.clear();  // no audio feedback but transport-cc (no audio NACK)
  accept_transport_cc(m, offered_fb, &codec, a, &n->twcc_ext_id);
  codecs->push_back(codec);
  n->audio = true;
  n->audio_pt = codec.payload_type;
  bool viewer_receives = m.direction.empty() || m.direction == "sendrecv" || m.direction == "recvonly";
  bool viewer_sends = m.direction.empty() || m.direction == "sendrecv" || m.direction == "sendonly";
  n->audio_send = c.audio_track && viewer_receives;
  n->audio_receive = c.audio_sink && viewer_sends;
  a->direction = n->audio_send && n->audio_receive ? "sendrecv"
                 : n->audio_send                   ? "sendonly"
                 : n->audio_receive                ? "recvonly"
                                                   : "inactive";
  if (n->audio_send) {
    a->msid = "kvs-edge kvs-edge-audio";
    a->ssrcs.push_back({c.audio_ssrc, "cname:kvs-edge"});
    a->ssrcs.push_back({c.audio_ssrc, "msid:kvs-edge kvs-edge-audio"});
  }
}

}  // namespace

bool answerer_is_dtls_client(const std::string& offered_setup, bool prefer_server) {
  if (offered_setup == "active") return false;
  if (offered_setup == "passive") return true;
  return !prefer_server;
}

std::optional<PeerError> answer_offer(const SessionDescription& offer, const AnswerContext& c,
                                      NegotiatedAnswer* out) {
  NegotiatedAnswer n;
  bool bundled = !offer.bundle_mids.empty();
  int transport = transport_section(offer);
  if (transport < 0) return unsupported("offer rejected: every media section has port 0");
  const MediaSection& t = offer.media[transport];
  if (auto err = check_transport(t)) return err;
  if (c.transport_mline >= 0 && transport != c.transport_mline)
    return unsupported("offer rejected: a renegotiation may not move the transport to another section");
  n.transport_mline = transport;
  n.transport_mid = t.mid;
  n.dtls_client = c.dtls_client ? *c.dtls_client : answerer_is_dtls_client(t.setup, c.prefer_dtls_server);

  SessionDescription& answer = n.answer;
  answer.session_id = c.session_id;
  answer.session_version = c.session_version;
  std::string video_problem;
  for (size_t i = 0; i < offer.media.size(); ++i) {
    const auto& m = offer.media[i];
    MediaSection a;
    a.kind = m.kind;
    a.proto = m.proto;
    a.mid = m.mid;
    a.formats = m.formats;
    bool usable = !m.rejected() && (bundled ? contains(offer.bundle_mids, m.mid) : static_cast<int>(i) == transport);
    bool rtp = m.proto.find("RTP/SAVPF") != std::string::npos || m.proto.find("RTP/SAVP") != std::string::npos;
    std::vector<RtpCodec> codecs;
    AudioCodec audio_codec = AudioCodec::kOpus;
    const RtpCodec* audio = nullptr;
    if (usable && m.kind == "application" && m.proto.find("SCTP") != std::string::npos && !n.data_channels) {
      // SCTP over DTLS for data channels (RFC 8841): one association on the bundled transport.
      n.data_channels = true;
      n.remote_sctp_port = m.sctp_port > 0 ? m.sctp_port : 5000;
      a.sctp_port = 5000;
      a.max_message_size = static_cast<int>(SctpTransport::kMaxMessageSize);
      set_transport(c, n.dtls_client, &a);
      a.ice_options = {"trickle"};
      if (bundled) answer.bundle_mids.push_back(a.mid);
      answer.media.push_back(std::move(a));
      continue;
    }
    if (usable && rtp && m.kind == "video" && c.video_track && !n.video) {
      answer_video(m, c, &a, &codecs, &n, &video_problem);
    } else if (usable && rtp && m.kind == "audio" && !n.audio && (c.audio_track || c.audio_sink) &&
               (audio = find_audio_codec(m, &audio_codec))) {
      n.audio_codec = audio_codec;
      answer_audio(m, *audio, c, &a, &codecs, &n);
    } else if (usable && rtp && (m.kind == "audio" || m.kind == "video")) {
      // Nothing to send or receive here yet: accepted as inactive with one of its codecs.
      for (auto& codec : m.codecs)
        if (!codec.name.empty()) {
          RtpCodec copy = codec;
          copy.rtcp_fb.clear();
          codecs.push_back(copy);
          break;
        }
      a.direction = "inactive";
    }
    if (codecs.empty()) {
      a.port = 0;  // rejected (RFC 8829 5.3.1)
      if (m.formats.empty()) a.formats = {"0"};
      // Transport attributes too: GStreamer webrtcbin refuses an answer whose rejected
      // sections lack them; other stacks ignore them.
      a.direction.clear();
      set_transport(c, n.dtls_client, &a);
      answer.media.push_back(std::move(a));
      continue;
    }
    a.formats.clear();
    for (auto& codec : codecs) a.formats.push_back(std::to_string(codec.payload_type));
    a.codecs = std::move(codecs);
    set_transport(c, n.dtls_client, &a);
    a.ice_options = {"trickle"};
    a.rtcp_mux = true;
    a.rtcp_rsize = m.rtcp_rsize;
    if (bundled) answer.bundle_mids.push_back(a.mid);
    answer.media.push_back(std::move(a));
  }
  if (c.video_track && !n.video) {
    if (video_problem.empty()) video_problem = "offer rejected: it has no video section to send H.264 in";
    return unsupported(video_problem);
  }
  *out = std::move(n);
  return std::nullopt;
}

std::optional<PeerError> check_offer_options(const OfferOptions& options, bool audio_track) {
  if (!options.video && options.audio.empty())
    return PeerError{ErrorCode::kInvalidArg, "the offer must ask for video or audio"};
  if (!options.audio.empty() && options.audio != "recvonly" && options.audio != "sendrecv")
    return PeerError{ErrorCode::kInvalidArg, "audio must be \"recvonly\" or \"sendrecv\", got \"" + options.audio + "\""};
  if (options.audio == "sendrecv" && !audio_track)
    return PeerError{ErrorCode::kInvalidState, "audio \"sendrecv\" needs an AudioTrack added first"};
  return std::nullopt;
}

LocalOffer make_offer(const OfferOptions& options, const OfferContext& c) {
  LocalOffer out;
  SessionDescription& offer = out.offer;
  offer.session_id = c.session_id;
  offer.session_version = c.session_version;
  auto base = [&](const std::string& kind) {
    MediaSection m;
    m.kind = kind;
    m.proto = "UDP/TLS/RTP/SAVPF";
    m.mid = std::to_string(offer.media.size());
    m.ice_ufrag = c.ice_ufrag;
    m.ice_pwd = c.ice_pwd;
    m.ice_options = {"trickle"};
    m.fingerprint_algorithm = "sha-256";
    m.fingerprint = c.fingerprint_sha256;
    m.setup = "actpass";
    m.rtcp_mux = true;
    m.rtcp_rsize = true;
    return m;
  };
  if (options.video) {
    MediaSection v = base("video");
    const std::pair<int, const char*> h264[] = {{102, "42e01f"}, {104, "42001f"}, {106, "4d001f"}, {108, "640032"}};
    for (auto& [pt, plid] : h264) {
      RtpCodec codec;
      codec.payload_type = pt;
      codec.name = "H264";
      codec.clock_rate = 90000;
      codec.fmtp = std::string("level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=") + plid;
      codec.rtcp_fb = {"nack", "nack pli", "ccm fir", "goog-remb", "transport-cc"};
      v.codecs.push_back(codec);
      v.formats.push_back(std::to_string(pt));
      out.video_pts.push_back(pt);
    }
    v.direction = "recvonly";
    v.extmaps.push_back({kOfferedTransportCcId, "", kTransportCcUri});
    offer.media.push_back(std::move(v));
  }
  if (!options.audio.empty()) {
    MediaSection a = base("audio");
    RtpCodec codec;
    codec.payload_type = 111;
    codec.name = "opus";
    codec.clock_rate = 48000;
    codec.channels = 2;
    codec.fmtp = "minptime=10;useinbandfec=1";
    codec.rtcp_fb = {"transport-cc"};
    a.codecs.push_back(codec);
    a.extmaps.push_back({kOfferedTransportCcId, "", kTransportCcUri});
    a.formats.push_back("111");
    a.direction = options.audio;
    out.audio_pt = 111;
    out.audio_send = options.audio == "sendrecv";
    out.audio_receive = c.audio_sink;
    if (out.audio_send) {
      a.msid = "kvs-edge kvs-edge-audio";
      a.ssrcs.push_back({c.audio_ssrc, "cname:kvs-edge"});
    }
    offer.media.push_back(std::move(a));
  }
  if (options.data_channel) {
    MediaSection d = base("application");
    d.proto = "UDP/DTLS/SCTP";
    d.formats = {"webrtc-datachannel"};
    d.rtcp_mux = false;
    d.rtcp_rsize = false;
    d.sctp_port = 5000;
    d.max_message_size = static_cast<int>(SctpTransport::kMaxMessageSize);
    offer.media.push_back(std::move(d));
  }
  for (auto& m : offer.media) offer.bundle_mids.push_back(m.mid);
  return out;
}

std::optional<PeerError> accept_answer(const LocalOffer& offer, const SessionDescription& answer,
                                       NegotiatedOffer* out) {
  auto refused = [](ErrorCode code, const std::string& why) { return PeerError{code, "answer rejected: " + why}; };
  if (answer.media.size() != offer.offer.media.size())
    return refused(ErrorCode::kSdpParse, "it has " + std::to_string(answer.media.size()) +
                                             " media sections, the offer had " + std::to_string(offer.offer.media.size()));
  const MediaSection& t = answer.media[0];
  if (t.rejected()) return refused(ErrorCode::kSdpUnsupported, "the camera refused the first media section");
  if (t.ice_ufrag.empty() || t.ice_pwd.empty()) return refused(ErrorCode::kSdpUnsupported, "no a=ice-ufrag/a=ice-pwd");
  if (!valid_fingerprint(t.fingerprint_algorithm, t.fingerprint))
    return refused(ErrorCode::kSdpParse, "missing or malformed a=fingerprint");
  if (t.setup != "active" && t.setup != "passive")
    return refused(ErrorCode::kSdpParse, "a=setup must be active or passive, got \"" + t.setup + "\"");
  if (!offer.video_pts.empty()) {
    bool h264 = false;
    for (auto& codec : t.codecs)
      h264 |= std::find(offer.video_pts.begin(), offer.video_pts.end(), codec.payload_type) != offer.video_pts.end();
    if (!h264) return refused(ErrorCode::kSdpUnsupported, "the camera answered no H.264 payload type we offered");
  }
  NegotiatedOffer n;
  n.transport = &t;
  n.dtls_client = t.setup == "passive";
  // transport-cc: the camera kept our header extension id and the feedback type.
  for (auto& m : answer.media) {
    bool ext = false, fb = false;
    for (auto& e : m.extmaps) ext |= e.uri == kTransportCcUri && e.id == kOfferedTransportCcId;
    for (auto& codec : m.codecs) fb |= contains(codec.rtcp_fb, "transport-cc");
    if (!m.rejected() && ext && fb) n.twcc_ext_id = kOfferedTransportCcId;
  }
  for (auto& m : answer.media)
    if (m.kind == "application" && !m.rejected()) {
      n.data_channels = true;
      n.remote_sctp_port = m.sctp_port > 0 ? m.sctp_port : 5000;
    }
  *out = n;
  return std::nullopt;
}

}  // namespace kvs::rtc
