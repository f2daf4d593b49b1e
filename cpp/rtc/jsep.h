// JSEP (RFC 8829) for one peer as pure functions: the camera's answer to a viewer's offer
// (5.3), and in the viewer role the offer we make (5.2) and the check of the camera's answer
// (5.8). No I/O and no state: what the peer has and what an earlier offer settled come in; the
// description and the negotiated parameters go out. Value types; any thread (the peer calls
// them on the network thread). Table-tested on captured offers in cpp/test/rtc/jsep_test.cpp.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "peer_error.h"
#include "sdp.h"

namespace kvs::rtc {

enum class AudioCodec { kOpus, kPcmu, kPcma };
// The RTP clock of the codec in kHz: Opus 48, G.711 8 (RFC 3551 4.5.14, RFC 7587 4.1).
inline int clock_khz(AudioCodec c) { return c == AudioCodec::kOpus ? 48 : 8; }

// What the camera brings to an answer.
struct AnswerContext {
  bool video_track = false;  // a VideoTrack to send: the offer must take H.264
  bool audio_track = false;  // an AudioTrack to send
  bool audio_sink = false;   // talk-back is taken
  uint32_t video_ssrc = 0, rtx_ssrc = 0, audio_ssrc = 0;
  std::string ice_ufrag, ice_pwd;  // our credentials, "" before ICE exists (filled in later)
  std::string fingerprint_sha256;  // of our DTLS certificate
  // Our DTLS role once a DTLS transport exists (a renegotiation keeps it); before that the
  // offer's a=setup decides, or prefer_dtls_server when it says actpass (RFC 5763 5).
  std::optional<bool> dtls_client;
  bool prefer_dtls_server = false;
  int transport_mline = -1;  // the section an earlier offer set the transport up on; -1: none
  uint64_t session_id = 0, session_version = 0;  // o= of the answer
};

// What an answer settled. A field group applies only when its section was negotiated (video,
// audio, data_channels): a renegotiation that leaves one out keeps what was settled before.
struct NegotiatedAnswer {
  SessionDescription answer;
  int transport_mline = -1;  // the section whose ICE/DTLS parameters carry the BUNDLE
  std::string transport_mid;
  bool dtls_client = true;
  int twcc_ext_id = 0;  // transport-cc header extension id; 0 = not negotiated
  bool video = false;
  int video_pt = -1;
  bool nack = false;  // RFC 4585 4.2: retransmit only when the viewer negotiated it
  int rtx_pt = -1;    // RFC 4588 payload type, -1 = retransmissions on the video SSRC
  bool audio = false;
  int audio_pt = -1;
  AudioCodec audio_codec = AudioCodec::kOpus;
  bool audio_send = false, audio_receive = false;
  bool data_channels = false;
  int remote_sctp_port = 5000;
};

// RFC 5763 5: the offerer's a=setup decides our DTLS role, or leaves it to us with actpass.
bool answerer_is_dtls_client(const std::string& offered_setup, bool prefer_server);

// The answer to `offer`: every offered section in order, rejected (port 0) or accepted.
// A PeerError (kSdpUnsupported / kSdpParse) names what in the offer cannot be answered.
std::optional<PeerError> answer_offer(const SessionDescription& offer, const AnswerContext& context,
                                      NegotiatedAnswer* out);

// Viewer role: what the offer asks for.
struct OfferOptions {
  bool video = true;          // H.264, recvonly
  std::string audio;          // "" (none), "recvonly" or "sendrecv" (needs an audio track)
  bool data_channel = false;  // an m=application section for SCTP data channels
};

// A refusal naming the bad option, before anything is set up.
std::optional<PeerError> check_offer_options(const OfferOptions& options, bool audio_track);

struct OfferContext {
  bool audio_sink = false;  // the camera's audio is taken
  uint32_t audio_ssrc = 0;
  std::string ice_ufrag, ice_pwd, fingerprint_sha256;
  uint64_t session_id = 0, session_version = 0;
};

struct LocalOffer {
  SessionDescription offer;  // bundled, a=setup:actpass (RFC 8842 5.2), trickle
  std::vector<int> video_pts;  // the H.264 payload types offered
  int audio_pt = -1;
  bool audio_send = false, audio_receive = false;
};
constexpr int kOfferedTransportCcId = 3;  // our extmap id for transport-cc in the viewer role

LocalOffer make_offer(const OfferOptions& options, const OfferContext& context);

// What the camera's answer settled.
struct NegotiatedOffer {
  const MediaSection* transport = nullptr;  // into the answer: its first section
  bool dtls_client = false;                 // the camera answered a=setup:passive
  int twcc_ext_id = 0;
  bool data_channels = false;
  int remote_sctp_port = 5000;
};

// Checks the camera's answer to `offer` (section count, transport parameters, H.264 when video
// was offered, transport-cc kept).
std::optional<PeerError> accept_answer(const LocalOffer& offer, const SessionDescription& answer,
                                       NegotiatedOffer* out);

}  // namespace kvs::rtc
