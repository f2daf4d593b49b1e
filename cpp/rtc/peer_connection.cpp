#include "peer_connection.h"

#include <openssl/rand.h>

#include <algorithm>
#include <cctype>
#include <chrono>

#include "annexb.h"
#include "clock.h"
#include "h264_sei.h"
#include "log.h"
#include "network_thread.h"
#include "rtp.h"

namespace kvs::rtc {

using media::monotonic_us;
namespace {

constexpr int64_t kPeerKeyframeIntervalUs = 300000;  // PLI/FIR from one viewer: at most ~3/s
constexpr guint kReportIntervalMs = 1000;
constexpr int64_t kRtcpTimeoutUs = 20000000;
constexpr int kOfferedTransportCcId = 3;             // viewer role: our extmap id for transport-cc
constexpr int64_t kTwccFeedbackIntervalUs = 100000;  // transport-cc feedback at most every 100 ms

template <typename T>
T random_value() {
  T v{};
  RAND_bytes(reinterpret_cast<unsigned char*>(&v), sizeof v);
  return v;
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
const RtpCodec* find_audio_codec(const MediaSection& m, PeerConnection::AudioCodec* codec) {
  if (const RtpCodec* opus = find_opus(m)) {
    *codec = PeerConnection::AudioCodec::kOpus;
    return opus;
  }
  for (const char* name : {"PCMU", "PCMA"})
    for (auto& c : m.codecs)
      if (c.clock_rate == 8000 && (c.name == name || (c.name.size() == 4 && std::equal(c.name.begin(), c.name.end(), name, [](char a, char b) { return std::toupper(static_cast<unsigned char>(a)) == b; })))) {
        *codec = name[3] == 'U' ? PeerConnection::AudioCodec::kPcmu : PeerConnection::AudioCodec::kPcma;
        return &c;
      }
  return nullptr;
}

// End of the RTP payload: before the padding the last byte counts (RFC 3550 5.1).
size_t payload_end(const uint8_t* packet, size_t size, size_t header_size) {
  if (!(packet[0] & 0x20) || size <= header_size) return size;
  return size - std::min<size_t>(packet[size - 1], size - header_size);
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

}  // namespace

const char* to_string(PeerState s) {
  switch (s) {
    case PeerState::kNew: return "new";
    case PeerState::kConnecting: return "connecting";
    case PeerState::kConnected: return "connected";
    case PeerState::kDisconnected: return "disconnected";
    case PeerState::kFailed: return "failed";
    case PeerState::kClosed: return "closed";
  }
  return "unknown";
}

const char* to_string(ErrorCode c) {
  switch (c) {
    case ErrorCode::kSdpParse: return "ERR_SDP_PARSE";
    case ErrorCode::kSdpUnsupported: return "ERR_SDP_UNSUPPORTED";
    case ErrorCode::kInvalidArg: return "ERR_INVALID_ARG";
    case ErrorCode::kInvalidState: return "ERR_INVALID_STATE";
    case ErrorCode::kIce: return "ERR_ICE";
    case ErrorCode::kDtls: return "ERR_DTLS";
    case ErrorCode::kClosed: return "ERR_CLOSED";
  }
  return "ERR_UNKNOWN";
}

std::shared_ptr<PeerConnection> PeerConnection::create(PeerConfig config,
                                                       std::unique_ptr<Observer> observer) {
  return std::shared_ptr<PeerConnection>(new PeerConnection(std::move(config), std::move(observer)));
}

PeerConnection::PeerConnection(PeerConfig config, std::unique_ptr<Observer> observer)
    : config_(std::move(config)), observer_(std::move(observer)) {
  ssrc_ = random_value<uint32_t>() | 1;
  rtx_ssrc_ = random_value<uint32_t>() | 1;
  rtx_seq_ = random_value<uint16_t>() & 0x7fff;
  audio_ssrc_ = random_value<uint32_t>() & ~1u;
  audio_seq_ = random_value<uint16_t>() & 0x7fff;
  audio_ts_offset_ = random_value<uint32_t>();
  seq_base_ = random_value<uint16_t>() & 0x7fff;  // room before the first wrap
  ts_offset_ = random_value<uint32_t>();
}

PeerConnection::~PeerConnection() { close(); }

void PeerConnection::add_track(std::shared_ptr<VideoTrack> track) { track_ = std::move(track); }
void PeerConnection::add_audio_track(std::shared_ptr<AudioTrack> track) { audio_track_ = std::move(track); }

// RFC 5763 5: the offerer's a=setup decides, or leaves the choice to us with actpass.
bool PeerConnection::dtls_client_for(const std::string& remote_setup) const {
  if (remote_setup == "active") return false;
  if (remote_setup == "passive") return true;
  return config_.dtls_role != PeerConfig::DtlsRole::kServer;
}

double PeerConnection::since_offer_ms() const { return (monotonic_us() - offer_time_us_) / 1000.0; }

void PeerConnection::set_remote_offer(const std::string& sdp, AnswerCallback done) {
  if (state_ == PeerState::kClosed) {
    done(PeerError{ErrorCode::kClosed, "the peer connection is closed"}, "");
    return;
  }
  if (local_pending_) {
    done(PeerError{ErrorCode::kInvalidState, "an offer is already being answered"}, "");
    return;
  }
  SessionDescription offer;
  try {
    offer = parse_sdp(sdp);
  } catch (const SdpError& e) {
    done(PeerError{e.kind() == SdpError::kParse ? ErrorCode::kSdpParse : ErrorCode::kSdpUnsupported,
                   std::string("offer rejected: ") + e.what()},
         "");
    return;
  }
  bool first = !ice_;
  if (first) {
    offer_time_us_ = monotonic_us();
    if (track_) {
      // Encode while ICE and DTLS run, starting from a fresh IDR: at DTLS connect the few
      // frames since that IDR are sent at once (see on_dtls_connected).
      track_->warm_up();
      track_->request_keyframe(true);
    }
    if (audio_track_) audio_track_->warm_up();
  }
  SessionDescription answer;
  if (auto err = apply_offer(offer, &answer)) {
    KVS_WARN(config_.id, "%s", err->message.c_str());
    done(err, "");
    return;
  }
  const MediaSection& remote = offer.media[bundle_mline_];
  if (first) {
    ice_ = std::make_unique<IceTransport>(this, NetworkThread::instance().context(), config_.id);
    IceOptions opts = config_.ice;
    opts.controlling = offer.ice_lite;
    std::string error;
    if (!ice_->init(opts, &error)) {
      done(PeerError{ErrorCode::kIce, error}, "");
      return;
    }
    bool client = dtls_client_for(remote.setup);
    dtls_ = std::make_unique<DtlsTransport>(this, NetworkThread::instance().context(), config_.id,
                                            client, remote.fingerprint_algorithm, remote.fingerprint);
    ice_->set_remote_credentials(remote.ice_ufrag, remote.ice_pwd);
    remote_ufrag_ = remote.ice_ufrag;
    set_state(PeerState::kConnecting);
    local_ = std::move(answer);
    local_pending_ = true;  // candidates gathered now go into the answer
    if (!ice_->gather()) {
      local_pending_ = false;
      done(PeerError{ErrorCode::kIce, "ICE gathering could not start (no usable interface?)"}, "");
      return;
    }
  } else {
    if (remote.ice_ufrag != remote_ufrag_) {
      KVS_INFO(config_.id, "ICE restart requested by the remote offer");
      ice_->restart();
      ice_->set_remote_credentials(remote.ice_ufrag, remote.ice_pwd);
      remote_ufrag_ = remote.ice_ufrag;
    }
    local_ = std::move(answer);
    local_pending_ = true;
    // A new generation of credentials invalidates the candidates the viewer had: all of ours
    // go into this answer again.
    early_candidates_ = ice_->local_candidates();
  }
  for (const auto& c : remote.candidates) {
    std::string error;
    if (!ice_->add_remote_candidate(c, &error)) KVS_WARN(config_.id, "%s", error.c_str());
  }
  if (remote.end_of_candidates) ice_->remote_gathering_done();
  if (config_.wait_for_gathering && !gathering_done_) {
    pending_done_ = std::move(done);
    return;
  }
  std::string text = finish_answer();
  done(std::nullopt, text);
}

std::optional<PeerError> PeerConnection::apply_offer(const SessionDescription& offer,
                                                     SessionDescription* answer) {
  bool bundled = !offer.bundle_mids.empty();
  auto in_bundle = [&](const std::string& mid) {
    return std::find(offer.bundle_mids.begin(), offer.bundle_mids.end(), mid) != offer.bundle_mids.end();
  };
  // The transport is the first usable section: the BUNDLE tag, or the first one when the offer
  // does not bundle (then only that section is accepted).
  int transport = -1;
  for (size_t i = 0; i < offer.media.size(); ++i) {
    const auto& m = offer.media[i];
    if (!m.rejected() && (!bundled || in_bundle(m.mid))) {
      transport = static_cast<int>(i);
      break;
    }
  }
  if (transport < 0)
    return PeerError{ErrorCode::kSdpUnsupported, "offer rejected: every media section has port 0"};
  const MediaSection& t = offer.media[transport];
  if (t.ice_ufrag.empty() || t.ice_pwd.empty())
    return PeerError{ErrorCode::kSdpUnsupported,
                     "offer rejected: media section mid=" + t.mid + " has no a=ice-ufrag/a=ice-pwd"};
  if (t.fingerprint.empty())
    return PeerError{ErrorCode::kSdpUnsupported,
                     "offer rejected: no DTLS fingerprint (a=fingerprint) for mid=" + t.mid};
  if (t.fingerprint_algorithm != "sha-1" && t.fingerprint_algorithm != "sha-224" &&
      t.fingerprint_algorithm != "sha-256" && t.fingerprint_algorithm != "sha-384" &&
      t.fingerprint_algorithm != "sha-512")
    return PeerError{ErrorCode::kSdpUnsupported,
                     "offer rejected: unsupported fingerprint hash \"" + t.fingerprint_algorithm + "\""};
  if (!valid_fingerprint(t.fingerprint_algorithm, t.fingerprint))
    return PeerError{ErrorCode::kSdpParse,
                     "offer rejected: a=fingerprint \"" + t.fingerprint.substr(0, 120) + "\" is not a " +
                         t.fingerprint_algorithm + " fingerprint (hex bytes separated by ':')"};
  if (t.setup == "holdconn")
    return PeerError{ErrorCode::kSdpUnsupported, "offer rejected: a=setup:holdconn is not supported"};
  if (!ice_) bundle_mline_ = transport;
  else if (transport != bundle_mline_)
    return PeerError{ErrorCode::kSdpUnsupported,
                     "offer rejected: a renegotiation may not move the transport to another section"};
  bundle_mid_ = t.mid;

  std::string ufrag, pwd;
  if (ice_) ice_->local_credentials(&ufrag, &pwd);
  bool dtls_client = dtls_ ? dtls_->is_client() : dtls_client_for(t.setup);

  answer->session_id = local_.session_id ? local_.session_id : (random_value<uint64_t>() >> 2);
  answer->session_version = ++session_version_;
  answer->media.clear();
  answer->bundle_mids.clear();
  bool video_done = false;
  bool audio_done = false;
  twcc_ext_id_ = 0;  // negotiated again below
  bool data_channels_accepted = false;
  std::string video_problem;
  for (size_t i = 0; i < offer.media.size(); ++i) {
    const auto& m = offer.media[i];
    MediaSection a;
    a.kind = m.kind;
    a.proto = m.proto;
    a.mid = m.mid;
    a.formats = m.formats;
    bool usable = !m.rejected() && (bundled ? in_bundle(m.mid) : static_cast<int>(i) == transport);
    bool rtp = m.proto.find("RTP/SAVPF") != std::string::npos || m.proto.find("RTP/SAVP") != std::string::npos;
    std::vector<RtpCodec> codecs;
    std::string direction;
    if (usable && m.kind == "application" && m.proto.find("SCTP") != std::string::npos && !data_channels_accepted) {
      // SCTP over DTLS for data channels (RFC 8841): one association on the bundled transport.
      data_channels_accepted = true;
      data_channels_ = true;
      remote_sctp_port_ = m.sctp_port > 0 ? m.sctp_port : 5000;
      a.sctp_port = 5000;
      a.max_message_size = static_cast<int>(SctpTransport::kMaxMessageSize);
      a.ice_ufrag = ufrag;
      a.ice_pwd = pwd;
      a.ice_options = {"trickle"};
      a.fingerprint_algorithm = "sha-256";
      a.fingerprint = Certificate::instance().fingerprint_sha256();
      a.setup = dtls_client ? "active" : "passive";
      if (bundled) answer->bundle_mids.push_back(a.mid);
      answer->media.push_back(std::move(a));
      continue;
    }
    if (usable && rtp && m.kind == "video" && track_ && !video_done) {
      auto choice = choose_h264(m);
      if (!choice) {
        video_problem = "offer rejected: video section mid=" + m.mid +
                        " has no H.264 payload type with packetization-mode=1 (offered: " +
                        codec_list(m) + ")";
      } else {
        RtpCodec c;
        c.payload_type = choice->payload_type;
        c.name = "H264";
        c.clock_rate = 90000;
        c.fmtp = choice->fmtp;
        nack_enabled_ = false;
        for (auto& fb : choice->rtcp_fb) {
          if (supported_feedback(fb)) c.rtcp_fb.push_back(fb);
          if (fb == "nack") nack_enabled_ = true;  // RFC 4585 4.2: only when negotiated
        }
        accept_transport_cc(m, choice->rtcp_fb, &c, &a);
        codecs.push_back(c);
        video_pt_ = c.payload_type;
        direction = (m.direction.empty() || m.direction == "sendrecv" || m.direction == "recvonly")
                        ? "sendonly" : "inactive";
        a.msid = "kvs-edge kvs-edge-video";
        a.ssrcs.push_back({ssrc_, "cname:kvs-edge"});
        a.ssrcs.push_back({ssrc_, "msid:kvs-edge kvs-edge-video"});
        rtx_pt_ = -1;
        if (choice->rtx_payload_type >= 0 && nack_enabled_) {
          // RFC 4588: retransmissions on their own SSRC and payload type, grouped with FID.
          RtpCodec rtx;
          rtx.payload_type = choice->rtx_payload_type;
          rtx.name = "rtx";
          rtx.clock_rate = 90000;
          rtx.fmtp = "apt=" + std::to_string(c.payload_type);
          codecs.push_back(rtx);
          rtx_pt_ = rtx.payload_type;
          a.ssrc_groups.push_back("FID " + std::to_string(ssrc_) + " " + std::to_string(rtx_ssrc_));
          a.ssrcs.push_back({rtx_ssrc_, "cname:kvs-edge"});
          a.ssrcs.push_back({rtx_ssrc_, "msid:kvs-edge kvs-edge-video"});
        }
        video_done = true;
      }
    } else if (usable && rtp && m.kind == "audio" && !audio_done && (audio_track_ || config_.audio_sink.enabled()) &&
               find_audio_codec(m, &audio_codec_)) {
      // Opus (RFC 7587), else G.711 PCMU/PCMA (RFC 3551) when that is all the viewer offers: we
      // send the tone when the viewer can receive, and take its talk-back when it sends and a
      // sink is configured.
      RtpCodec c = *find_audio_codec(m, &audio_codec_);
      std::vector<std::string> offered_fb = std::move(c.rtcp_fb);
      c.rtcp_fb.clear();  // no audio feedback but transport-cc (no audio NACK)
      accept_transport_cc(m, offered_fb, &c, &a);
      codecs.push_back(c);
      audio_pt_ = c.payload_type;
      bool viewer_receives = m.direction.empty() || m.direction == "sendrecv" || m.direction == "recvonly";
      bool viewer_sends = m.direction.empty() || m.direction == "sendrecv" || m.direction == "sendonly";
      audio_send_ = audio_track_ && viewer_receives;
      audio_receive_ = config_.audio_sink.enabled() && viewer_sends;
      direction = audio_send_ && audio_receive_ ? "sendrecv" : audio_send_ ? "sendonly" : audio_receive_ ? "recvonly" : "inactive";
      if (audio_send_) {
        a.msid = "kvs-edge kvs-edge-audio";
        a.ssrcs.push_back({audio_ssrc_, "cname:kvs-edge"});
        a.ssrcs.push_back({audio_ssrc_, "msid:kvs-edge kvs-edge-audio"});
      }
      audio_done = true;
    } else if (usable && rtp && (m.kind == "audio" || m.kind == "video")) {
      // Nothing to send or receive here yet: accepted as inactive with one of its codecs.
      for (auto& c : m.codecs)
        if (!c.name.empty()) {
          RtpCodec copy = c;
          copy.rtcp_fb.clear();
          codecs.push_back(copy);
          break;
        }
      direction = "inactive";
    }
    if (codecs.empty()) {
      a.port = 0;  // rejected (RFC 8829 5.3.1)
      if (m.formats.empty()) a.formats = {"0"};
      // Transport attributes too: GStreamer webrtcbin refuses an answer whose rejected
      // sections lack them; other stacks ignore them.
      a.ice_ufrag = ufrag;
      a.ice_pwd = pwd;
      a.fingerprint_algorithm = "sha-256";
      a.fingerprint = Certificate::instance().fingerprint_sha256();
      a.setup = dtls_client ? "active" : "passive";
      answer->media.push_back(std::move(a));
      continue;
    }
    a.formats.clear();
    for (auto& c : codecs) a.formats.push_back(std::to_string(c.payload_type));
    a.codecs = std::move(codecs);
    a.direction = direction;
    a.ice_ufrag = ufrag;
    a.ice_pwd = pwd;
    a.ice_options = {"trickle"};
    a.fingerprint_algorithm = "sha-256";
    a.fingerprint = Certificate::instance().fingerprint_sha256();
    a.setup = dtls_client ? "active" : "passive";
    a.rtcp_mux = true;
    a.rtcp_rsize = m.rtcp_rsize;
    if (bundled) answer->bundle_mids.push_back(a.mid);
    answer->media.push_back(std::move(a));
  }
  if (track_ && !video_done) {
    if (video_problem.empty()) video_problem = "offer rejected: it has no video section to send H.264 in";
    return PeerError{ErrorCode::kSdpUnsupported, video_problem};
  }
  if (!bundled) bundle_mid_ = t.mid;
  return std::nullopt;
}

std::string PeerConnection::finish_answer() {
  local_pending_ = false;
  std::string ufrag, pwd;
  ice_->local_credentials(&ufrag, &pwd);
  for (auto& m : local_.media) {
    m.ice_ufrag = ufrag;
    m.ice_pwd = pwd;
  }
  MediaSection& t = local_.media[bundle_mline_];
  t.candidates = early_candidates_;
  t.end_of_candidates = gathering_done_;
  early_candidates_.clear();
  return write_sdp(local_);
}

std::optional<PeerError> PeerConnection::add_remote_candidate(const std::string& candidate,
                                                              const std::string& mid) {
  if (state_ == PeerState::kClosed) return PeerError{ErrorCode::kClosed, "the peer connection is closed"};
  if (!ice_)
    return PeerError{ErrorCode::kInvalidState, "a remote candidate arrived before the offer"};
  if (!offerer_ && !mid.empty() && !bundle_mid_.empty() && mid != bundle_mid_) {
    bool known = false;
    for (auto& m : local_.media) known |= (m.mid == mid && !m.rejected());
    if (!known) return std::nullopt;  // for a section we rejected: nothing to do
  }
  std::string line = candidate;
  if (line.rfind("a=", 0) == 0) line = line.substr(2);
  if (line.empty() || line == "end-of-candidates") {
    ice_->remote_gathering_done();
    return std::nullopt;
  }
  if (!is_valid_candidate(line)) {
    if (line.find(".local ") != std::string::npos) {
      KVS_INFO(config_.id, "mDNS candidate ignored (peer-reflexive discovery covers it): %s", line.c_str());
      return std::nullopt;
    }
    return PeerError{ErrorCode::kInvalidArg, "malformed ICE candidate: \"" + line.substr(0, 120) + "\""};
  }
  std::string error;
  if (!ice_->add_remote_candidate(line, &error)) {
    if (line.find(".local ") != std::string::npos) return std::nullopt;
    return PeerError{ErrorCode::kInvalidArg, error};
  }
  return std::nullopt;
}

void PeerConnection::set_state(PeerState s) {
  if (s == state_ || state_ == PeerState::kClosed) return;
  state_ = s;
  KVS_INFO(config_.id, "state %s", to_string(s));
  if (observer_) observer_->on_state(s);
}

void PeerConnection::on_ice_candidate(const std::string& candidate) {
  if (local_pending_) {
    early_candidates_.push_back(candidate);
    return;
  }
  if (observer_) observer_->on_local_candidate(candidate, bundle_mid_, bundle_mline_);
}

void PeerConnection::on_ice_gathering_done() {
  gathering_done_ = true;
  if (pending_done_) {
    auto done = std::move(pending_done_);
    pending_done_ = nullptr;
    done(std::nullopt, finish_answer());
    return;
  }
  // Gathering can end inside gather() itself (host candidates only, no UPnP to wait for): the
  // description still being written carries a=end-of-candidates, no separate event is due.
  if (local_pending_) return;
  if (observer_) observer_->on_gathering_done();
}

void PeerConnection::on_ice_state(IceTransport::State s) {
  switch (s) {
    case IceTransport::State::kConnected:
      if (stats_.ice_connected_ms < 0) stats_.ice_connected_ms = since_offer_ms();
      if (!dtls_) break;  // offerer: the answer (and with it our DTLS role) is not in yet
      if (dtls_->state() == DtlsTransport::State::kConnected) set_state(PeerState::kConnected);
      else if (dtls_->is_client()) dtls_->start();
      break;
    case IceTransport::State::kFailed:
      set_state(PeerState::kFailed);
      break;
    case IceTransport::State::kDisconnected:
      set_state(PeerState::kDisconnected);
      break;
    default:
      break;
  }
}

void PeerConnection::on_ice_packet(const uint8_t* data, size_t size) {
  switch (classify_packet(data, size)) {
    case PacketClass::kDtls:
      if (dtls_) dtls_->receive(data, size);
      break;
    case PacketClass::kRtcp: {
      if (!srtp_in_.ready() || size > 1500) break;
      uint8_t buf[1500 + kSrtpMaxTrailer];
      std::copy(data, data + size, buf);
      size_t len = size;
      if (srtp_in_.unprotect_rtcp(buf, &len)) {
        last_rtcp_us_ = monotonic_us();
        handle_rtcp(buf, len);
      }
      break;
    }
    case PacketClass::kRtp: {
      if (!srtp_in_.ready() || size > 1500) break;
      uint8_t buf[1500 + kSrtpMaxTrailer];
      std::copy(data, data + size, buf);
      size_t len = size;
      if (srtp_in_.unprotect_rtp(buf, &len)) {
        ++stats_.packets_received;
        stats_.bytes_received += len;
        handle_rtp(buf, len);
      }
      break;
    }
    default:
      break;
  }
}

void PeerConnection::on_dtls_send(const uint8_t* data, size_t size) {
  if (ice_) ice_->send(data, size);
}

void PeerConnection::on_dtls_connected(const SrtpKeys& keys) {
  stats_.dtls_connected_ms = since_offer_ms();
  srtp_profile_ = keys.profile == SrtpProfile::kAeadAes128Gcm ? "SRTP_AEAD_AES_128_GCM" : "SRTP_AES128_CM_SHA1_80";
  std::string error;
  if (!srtp_out_.init(SrtpSession::kOutbound, keys.profile, keys.local.data(), keys.local.size(), &error) ||
      !srtp_in_.init(SrtpSession::kInbound, keys.profile, keys.remote.data(), keys.remote.size(), &error)) {
    KVS_ERROR(config_.id, "%s", error.c_str());
    set_state(PeerState::kFailed);
    return;
  }
  set_state(PeerState::kConnected);
  if (track_ && !subscribed_) {
    subscribed_ = true;
    track_->subscribe(this);
    auto gop = track_->recent_gop();
    if (!gop.empty()) {
      for (const auto& f : gop) on_track_frame(f);  // a picture now, not at the next IDR
      stats_.join_burst_frames = gop.size();
    } else {
      track_->request_keyframe(true);  // the new viewer gets an IDR now, not at the next GOP
      if (observer_) observer_->on_keyframe_request("join");
    }
  }
  if (data_channels_ && !sctp_) {
    sctp_ = SctpTransport::create(this, config_.id, dtls_->is_client());
    std::string sctp_error;
    if (!sctp_->start(5000, static_cast<uint16_t>(remote_sctp_port_), &sctp_error))
      KVS_ERROR(config_.id, "data channels unavailable: %s", sctp_error.c_str());
  }
  if (audio_track_ && audio_send_ && !audio_subscribed_) {
    audio_subscribed_ = true;
    audio_track_->subscribe(this, audio_codec_ != AudioCodec::kOpus);  // G.711 is encoded only for such peers
  }
  if (audio_receive_ && !audio_sink_) {
    std::string sink_error;
    auto codec = audio_codec_ == AudioCodec::kOpus   ? media::SinkCodec::kOpus
                 : audio_codec_ == AudioCodec::kPcmu ? media::SinkCodec::kPcmu
                                                     : media::SinkCodec::kPcma;
    audio_sink_ = media::AudioSink::open(config_.audio_sink, codec, &sink_error);
    if (!audio_sink_) KVS_ERROR(config_.id, "talk-back: %s", sink_error.c_str());
  }
  if (!report_timer_) {
    GSource* src = g_timeout_source_new(kReportIntervalMs);
    g_source_set_callback(src, &PeerConnection::on_report_timer, this, nullptr);
    report_timer_ = g_source_attach(src, NetworkThread::instance().context());
    g_source_unref(src);
  }
}

void PeerConnection::on_dtls_data(const uint8_t* data, size_t size) {
  if (sctp_) sctp_->receive(data, size);
}

void PeerConnection::on_sctp_send(const uint8_t* data, size_t size) {
  if (dtls_) dtls_->send(data, size);
}

void PeerConnection::on_channel_open(const DataChannelInfo& channel) {
  KVS_INFO(config_.id, "data channel %u \"%s\" open", channel.id, channel.label.c_str());
  if (observer_) observer_->on_data_channel_open(channel);
}

void PeerConnection::on_channel_message(uint16_t id, bool binary, const uint8_t* data, size_t size) {
  ++stats_.data_messages_received;
  stats_.data_bytes_received += size;
  if (observer_) observer_->on_data_channel_message(id, binary, data, size);
}

void PeerConnection::on_channel_closed(uint16_t id) {
  if (observer_) observer_->on_data_channel_closed(id);
}

std::optional<PeerError> PeerConnection::open_data_channel(const DataChannelInfo& options, int* id) {
  if (state_ == PeerState::kClosed) return PeerError{ErrorCode::kClosed, "the peer connection is closed"};
  if (!sctp_) return PeerError{ErrorCode::kInvalidState, "data channels are not negotiated or DTLS is not up yet"};
  std::string error;
  *id = sctp_->open_channel(options, &error);
  if (*id < 0) return PeerError{ErrorCode::kInvalidState, error};
  return std::nullopt;
}

std::optional<PeerError> PeerConnection::send_data(uint16_t id, bool binary, const std::vector<uint8_t>& data) {
  if (state_ == PeerState::kClosed) return PeerError{ErrorCode::kClosed, "the peer connection is closed"};
  if (!sctp_) return PeerError{ErrorCode::kInvalidState, "data channels are not negotiated or DTLS is not up yet"};
  std::string error;
  if (!sctp_->send(id, binary, data.data(), data.size(), &error)) return PeerError{ErrorCode::kInvalidArg, error};
  ++stats_.data_messages_sent;
  stats_.data_bytes_sent += data.size();
  return std::nullopt;
}

void PeerConnection::close_data_channel(uint16_t id) {
  if (sctp_) sctp_->close_channel(id);
}

void PeerConnection::on_dtls_failed(const std::string& reason) {
  KVS_WARN(config_.id, "DTLS: %s", reason.c_str());
  set_state(PeerState::kFailed);
}

void PeerConnection::on_dtls_closed() {
  KVS_INFO(config_.id, "the viewer closed the connection (DTLS close_notify)");
  // Not from inside the transport's own receive path: close on the next loop iteration.
  std::weak_ptr<PeerConnection> weak = weak_from_this();
  NetworkThread::instance().post_later([weak] {
    if (auto self = weak.lock()) self->close();
  });
}

void PeerConnection::on_track_frame(const PacketizedFramePtr& frame) {
  if (state_ != PeerState::kConnected || video_pt_ < 0) return;
  if (!started_) {
    if (!frame->keyframe) return;  // a keyframe was requested when this peer joined
    started_ = true;
    first_packet_ = frame->first_packet;
    stats_.first_frame_ms = since_offer_ms();
    KVS_INFO(config_.id, "first keyframe sent %.1f ms after the offer", stats_.first_frame_ms);
  }
  uint32_t ts = frame->rtp_timestamp + ts_offset_;
  // The whole frame is written and protected first, in sequence (and transport-cc) order, then
  // handed to ICE as one batch: one system call on a UDP pair (docs/send-path.md).
  // The scratch is the network thread's, shared by every peer (they send one after another):
  // a viewer does not keep a buffer as large as the largest IDR it was sent.
  static thread_local std::vector<uint8_t> buffer;
  static thread_local std::vector<Datagram> batch;
  size_t n = frame->payloads.size();
  if (buffer.size() < n * kPacketSlot) buffer.resize(n * kPacketSlot);
  batch.clear();
  for (size_t i = 0; i < n; ++i) {
    uint16_t seq = static_cast<uint16_t>(seq_base_ + (frame->first_packet + i - first_packet_));
    uint8_t* slot = buffer.data() + i * kPacketSlot;
    if (size_t len = build_rtp_packet(frame->payloads[i], seq, ts, false, slot)) batch.push_back({slot, len, false});
  }
  ice_->send_batch(batch.data(), batch.size());
  for (const Datagram& d : batch) count_sent(d.sent, d.size);
  ++stats_.frames_sent;
  if (frame->keyframe) ++stats_.keyframes_sent;
  last_rtp_ts_ = ts;
  last_rtp_time_us_ = monotonic_us();
}

void PeerConnection::on_audio_frame(const media::EncodedAudioPtr& frame) {
  if (state_ != PeerState::kConnected || !audio_send_ || audio_pt_ < 0 || frame->data.size() > 1400) return;
  const std::vector<uint8_t>& payload = audio_codec_ == AudioCodec::kOpus   ? frame->data
                                        : audio_codec_ == AudioCodec::kPcmu ? frame->pcmu
                                                                            : frame->pcma;
  if (payload.empty()) return;  // encoded before this G.711 peer subscribed
  // Opus runs a 48 kHz RTP clock, G.711 8 kHz (RFC 3551 4.5.14).
  uint32_t ts = audio_codec_ == AudioCodec::kOpus ? frame->rtp_timestamp : frame->rtp_timestamp / 6;
  uint8_t buf[kRtpMaxHeaderSize + 1500 + kSrtpMaxTrailer];
  RtpHeader h;
  h.marker = !audio_started_;  // RFC 7587 4.1: first packet of a talkspurt
  audio_started_ = true;
  h.payload_type = static_cast<uint8_t>(audio_pt_);
  h.sequence = audio_seq_++;
  h.timestamp = ts + audio_ts_offset_;
  h.ssrc = audio_ssrc_;
  stamp_transport_cc(&h);
  size_t header_size = write_rtp_header(h, buf);
  std::copy(payload.begin(), payload.end(), buf + header_size);
  size_t len = header_size + payload.size();
  last_audio_ts_ = h.timestamp;
  last_audio_time_us_ = monotonic_us();
  bool protected_ok = srtp_out_.protect_rtp(buf, &len);
  if (protected_ok) sent_transport_cc(h, len);  // as for video: a refused send is a loss
  if (!protected_ok || !ice_->send(buf, len)) {
    ++stats_.send_errors;
    return;
  }
  ++stats_.audio_packets_sent;
  audio_octets_ += payload.size();
}

void PeerConnection::handle_rtp(const uint8_t* packet, size_t size) {
  auto h = parse_rtp_header(packet, size);
  if (!h || h->header_size > size) return;
  if (twcc_ext_id_) note_transport_cc(packet, size, h->ssrc);
  if (offerer_ && depacketizer_ &&
      std::find(offered_video_pts_.begin(), offered_video_pts_.end(), h->payload_type) != offered_video_pts_.end()) {
    remote_video_ssrc_ = h->ssrc;
    video_rx_.on_packet(h->sequence, h->timestamp, monotonic_us());
    size_t end = payload_end(packet, size, h->header_size);
    stats_.video_bytes_received += end - h->header_size;
    depacketizer_->push(h->sequence, h->timestamp, h->marker, packet + h->header_size, end - h->header_size);
    stats_.incomplete_frames = depacketizer_->incomplete();
    if (stats_.keyframes_received == 0 && monotonic_us() - last_pli_sent_us_ > 300000) {
      // Joined mid-GOP: ask for an IDR now rather than wait for the next one (RFC 4585 6.3.1).
      last_pli_sent_us_ = monotonic_us();
      uint8_t buf[12 + kSrtpMaxTrailer];
      size_t len = write_pli(1, remote_video_ssrc_, buf);
      if (srtp_out_.protect_rtcp(buf, &len)) ice_->send(buf, len);
    }
    return;
  }
  if (static_cast<int>(h->payload_type) == audio_pt_ && audio_receive_) {
    if (!audio_rx_.active()) audio_rx_ = ReceiveStatistics(audio_clock_khz() * 1000);
    remote_audio_ssrc_ = h->ssrc;
    audio_rx_.on_packet(h->sequence, h->timestamp, monotonic_us());
    ++stats_.audio_packets_received;
    stats_.audio_bytes_received += size - h->header_size;
    // Padding (RFC 3550 5.1): the last byte says how many bytes to drop.
    size_t end = payload_end(packet, size, h->header_size);
    if (end <= h->header_size) return;
    if (audio_sink_) audio_sink_->push(packet + h->header_size, end - h->header_size, h->sequence);
  }
}

void PeerConnection::on_access_unit(const AccessUnit& au) {
  if (stats_.keyframes_received == 0 && !au.keyframe) return;  // undecodable before the first IDR
  if (au.keyframe) ++stats_.keyframes_received;
  ++stats_.frames_received;
  read_capture_timestamp(au);
  if (stats_.first_frame_received_ms < 0) {
    stats_.first_frame_received_ms = since_offer_ms();
    KVS_INFO(config_.id, "first keyframe received %.1f ms after the offer", stats_.first_frame_received_ms);
  }
}

// The camera's capture-timestamp SEI (kvs-edge video.captureTimestamps), if the access unit has
// one: wall clock now minus capture time is the glass-to-glass latency up to depacketization.
void PeerConnection::read_capture_timestamp(const AccessUnit& au) {
  for (const media::NalUnit& n : media::split_annexb(au.annexb.data(), au.annexb.size())) {
    uint64_t captured_us = 0;
    if (n.type() != media::kNalSei || !media::find_timestamp_sei(n.data, n.size, &captured_us)) continue;
    const double ms = static_cast<double>(media::wall_clock_us() - static_cast<int64_t>(captured_us)) / 1000.0;
    stats_.glass_to_glass_ms = ms;
    stats_.glass_to_glass_sum_ms += ms;
    ++stats_.glass_to_glass_samples;
    return;
  }
}

void PeerConnection::create_offer(const OfferOptions& options, AnswerCallback done) {
  if (state_ == PeerState::kClosed) {
    done(PeerError{ErrorCode::kClosed, "the peer connection is closed"}, "");
    return;
  }
  if (ice_) {
    done(PeerError{ErrorCode::kInvalidState, "an offer or answer was already made on this peer"}, "");
    return;
  }
  if (!options.video && options.audio.empty()) {
    done(PeerError{ErrorCode::kInvalidArg, "the offer must ask for video or audio"}, "");
    return;
  }
  if (!options.audio.empty() && options.audio != "recvonly" && options.audio != "sendrecv") {
    done(PeerError{ErrorCode::kInvalidArg, "audio must be \"recvonly\" or \"sendrecv\", got \"" + options.audio + "\""}, "");
    return;
  }
  if (options.audio == "sendrecv" && !audio_track_) {
    done(PeerError{ErrorCode::kInvalidState, "audio \"sendrecv\" needs an AudioTrack added first"}, "");
    return;
  }
  offerer_ = true;
  offer_time_us_ = monotonic_us();
  ice_ = std::make_unique<IceTransport>(this, NetworkThread::instance().context(), config_.id);
  IceOptions opts = config_.ice;
  opts.controlling = true;  // RFC 8445 6.1.1: the offerer of a full-ICE pair controls
  std::string error;
  if (!ice_->init(opts, &error)) {
    done(PeerError{ErrorCode::kIce, error}, "");
    return;
  }
  std::string ufrag, pwd;
  ice_->local_credentials(&ufrag, &pwd);
  SessionDescription offer;
  offer.session_id = random_value<uint64_t>() >> 2;
  offer.session_version = ++session_version_;
  auto base = [&](const std::string& kind, const std::string& mid) {
    MediaSection m;
    m.kind = kind;
    m.proto = "UDP/TLS/RTP/SAVPF";
    m.mid = mid;
    m.ice_ufrag = ufrag;
    m.ice_pwd = pwd;
    m.ice_options = {"trickle"};
    m.fingerprint_algorithm = "sha-256";
    m.fingerprint = Certificate::instance().fingerprint_sha256();
    m.setup = "actpass";
    m.rtcp_mux = true;
    m.rtcp_rsize = true;
    return m;
  };
  if (options.video) {
    MediaSection v = base("video", std::to_string(offer.media.size()));
    const std::pair<int, const char*> h264[] = {{102, "42e01f"}, {104, "42001f"}, {106, "4d001f"}, {108, "640032"}};
    for (auto& [pt, plid] : h264) {
      RtpCodec c;
      c.payload_type = pt;
      c.name = "H264";
      c.clock_rate = 90000;
      c.fmtp = std::string("level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=") + plid;
      c.rtcp_fb = {"nack", "nack pli", "ccm fir", "goog-remb", "transport-cc"};
      v.codecs.push_back(c);
      v.formats.push_back(std::to_string(pt));
      offered_video_pts_.push_back(pt);
    }
    v.direction = "recvonly";
    v.extmaps.push_back({kOfferedTransportCcId, "", kTransportCcUri});
    offer.media.push_back(std::move(v));
    depacketizer_ = std::make_unique<H264Depacketizer>([this](const AccessUnit& au) { on_access_unit(au); });
  }
  if (!options.audio.empty()) {
    MediaSection a = base("audio", std::to_string(offer.media.size()));
    RtpCodec c;
    c.payload_type = 111;
    c.name = "opus";
    c.clock_rate = 48000;
    c.channels = 2;
    c.fmtp = "minptime=10;useinbandfec=1";
    c.rtcp_fb = {"transport-cc"};
    a.codecs.push_back(c);
    a.extmaps.push_back({kOfferedTransportCcId, "", kTransportCcUri});
    a.formats.push_back("111");
    a.direction = options.audio;
    audio_pt_ = 111;
    audio_send_ = options.audio == "sendrecv";
    audio_receive_ = config_.audio_sink.enabled();
    if (audio_send_) {
      a.msid = "kvs-edge kvs-edge-audio";
      a.ssrcs.push_back({audio_ssrc_, "cname:kvs-edge"});
    }
    offer.media.push_back(std::move(a));
  }
  if (options.data_channel) {
    MediaSection d = base("application", std::to_string(offer.media.size()));
    d.proto = "UDP/DTLS/SCTP";
    d.formats = {"webrtc-datachannel"};
    d.rtcp_mux = false;
    d.rtcp_rsize = false;
    d.sctp_port = 5000;
    d.max_message_size = static_cast<int>(SctpTransport::kMaxMessageSize);
    offer.media.push_back(std::move(d));
  }
  for (auto& m : offer.media) offer.bundle_mids.push_back(m.mid);
  bundle_mline_ = 0;
  bundle_mid_ = offer.media[0].mid;
  local_ = std::move(offer);  // our local description
  local_pending_ = true;
  set_state(PeerState::kConnecting);
  if (audio_track_ && audio_send_) audio_track_->warm_up();
  if (!ice_->gather()) {
    local_pending_ = false;
    done(PeerError{ErrorCode::kIce, "ICE gathering could not start (no usable interface?)"}, "");
    return;
  }
  if (config_.wait_for_gathering && !gathering_done_) {
    pending_done_ = std::move(done);
    return;
  }
  done(std::nullopt, finish_answer());
}

void PeerConnection::set_remote_answer(const std::string& sdp, std::function<void(std::optional<PeerError>)> done) {
  if (state_ == PeerState::kClosed) return done(PeerError{ErrorCode::kClosed, "the peer connection is closed"});
  if (!offerer_ || dtls_) return done(PeerError{ErrorCode::kInvalidState, "no offer of ours is waiting for an answer"});
  SessionDescription answer;
  try {
    answer = parse_sdp(sdp);
  } catch (const SdpError& e) {
    return done(PeerError{ErrorCode::kSdpParse, std::string("answer rejected: ") + e.what()});
  }
  if (answer.media.size() != local_.media.size())
    return done(PeerError{ErrorCode::kSdpParse, "answer rejected: it has " + std::to_string(answer.media.size()) +
                                                    " media sections, the offer had " + std::to_string(local_.media.size())});
  const MediaSection& t = answer.media[0];
  if (t.rejected()) return done(PeerError{ErrorCode::kSdpUnsupported, "answer rejected: the camera refused the first media section"});
  if (t.ice_ufrag.empty() || t.ice_pwd.empty())
    return done(PeerError{ErrorCode::kSdpUnsupported, "answer rejected: no a=ice-ufrag/a=ice-pwd"});
  if (!valid_fingerprint(t.fingerprint_algorithm, t.fingerprint))
    return done(PeerError{ErrorCode::kSdpParse, "answer rejected: missing or malformed a=fingerprint"});
  if (t.setup != "active" && t.setup != "passive")
    return done(PeerError{ErrorCode::kSdpParse, "answer rejected: a=setup must be active or passive, got \"" + t.setup + "\""});
  if (depacketizer_) {
    bool h264 = false;
    for (auto& c : answer.media[0].codecs)
      h264 |= std::find(offered_video_pts_.begin(), offered_video_pts_.end(), c.payload_type) != offered_video_pts_.end();
    if (!h264) return done(PeerError{ErrorCode::kSdpUnsupported, "answer rejected: the camera answered no H.264 payload type we offered"});
  }
  // transport-cc: the camera kept our header extension id and the feedback type.
  for (auto& m : answer.media) {
    bool ext = false, fb = false;
    for (auto& e : m.extmaps) ext |= e.uri == kTransportCcUri && e.id == kOfferedTransportCcId;
    for (auto& c : m.codecs) fb |= std::find(c.rtcp_fb.begin(), c.rtcp_fb.end(), "transport-cc") != c.rtcp_fb.end();
    if (!m.rejected() && ext && fb) twcc_ext_id_ = kOfferedTransportCcId;
  }
  for (auto& m : answer.media)
    if (m.kind == "application" && !m.rejected()) {
      data_channels_ = true;
      remote_sctp_port_ = m.sctp_port > 0 ? m.sctp_port : 5000;
    }
  ice_->set_remote_credentials(t.ice_ufrag, t.ice_pwd);
  remote_ufrag_ = t.ice_ufrag;
  dtls_ = std::make_unique<DtlsTransport>(this, NetworkThread::instance().context(), config_.id, t.setup == "passive",
                                          t.fingerprint_algorithm, t.fingerprint);
  for (const auto& c : t.candidates) {
    std::string error;
    if (!ice_->add_remote_candidate(c, &error)) KVS_WARN(config_.id, "%s", error.c_str());
  }
  if (t.end_of_candidates) ice_->remote_gathering_done();
  if (ice_->state() == IceTransport::State::kConnected && dtls_->is_client()) dtls_->start();
  done(std::nullopt);
}

size_t PeerConnection::build_rtp_packet(const RtpPayload& payload, uint16_t seq, uint32_t ts, bool retransmission,
                                        uint8_t* buf) {
  if (payload.data.size() > 1500) return 0;
  RtpHeader h;
  h.marker = payload.marker;
  h.payload_type = static_cast<uint8_t>(video_pt_);
  h.sequence = seq;
  h.timestamp = ts;
  h.ssrc = ssrc_;
  stamp_transport_cc(&h);
  size_t offset = write_rtp_header(h, buf);
  if (retransmission && rtx_pt_ >= 0) {
    // RFC 4588 4: RTX payload = original sequence number + original payload.
    h.payload_type = static_cast<uint8_t>(rtx_pt_);
    h.sequence = rtx_seq_++;
    h.ssrc = rtx_ssrc_;
    write_rtp_header(h, buf);
    buf[offset] = static_cast<uint8_t>(seq >> 8);
    buf[offset + 1] = static_cast<uint8_t>(seq & 0xff);
    offset += 2;
  }
  std::copy(payload.data.begin(), payload.data.end(), buf + offset);
  size_t len = offset + payload.data.size();
  if (!srtp_out_.protect_rtp(buf, &len)) {
    ++stats_.send_errors;
    return 0;
  }
  // Numbered, so recorded even when the socket refuses it: lost to the viewer all the same.
  sent_transport_cc(h, len);
  return len;
}

void PeerConnection::send_rtp_packet(const RtpPayload& payload, uint16_t seq, uint32_t ts,
                                     bool retransmission) {
  uint8_t buf[kPacketSlot];
  size_t len = build_rtp_packet(payload, seq, ts, retransmission, buf);
  if (!len) return;
  bool sent = ice_->send(buf, len);
  count_sent(sent, len);
  if (sent && retransmission) ++stats_.retransmitted;
}

void PeerConnection::count_sent(bool sent, size_t len) {
  if (!sent) {
    ++stats_.send_errors;  // a slow or gone viewer: dropped and counted, never waited for
    return;
  }
  ++stats_.packets_sent;
  stats_.bytes_sent += len;
}

void PeerConnection::handle_rtcp(uint8_t* data, size_t size) {
  std::vector<RtcpPacket> packets;
  parse_rtcp(data, size, &packets);
  int64_t now = monotonic_us();
  for (const auto& p : packets) {
    switch (p.type) {
      case RtcpPacket::kSenderReport:
      case RtcpPacket::kReceiverReport:
        if (p.type == RtcpPacket::kSenderReport) {
          // Their sender report: our next receiver report tells them when we got it (their RTT).
          if (video_rx_.active() && p.sender_ssrc == remote_video_ssrc_) video_rx_.on_sender_report(p.ntp_timestamp, now);
          if (audio_rx_.active() && p.sender_ssrc == remote_audio_ssrc_) audio_rx_.on_sender_report(p.ntp_timestamp, now);
        }
        for (const auto& b : p.reports) {
          if (b.ssrc != ssrc_) continue;
          stats_.fraction_lost = b.fraction_lost / 256.0;
          if (!remb_seen_ && twcc_.feedback_count() == 0 && track_ && subscribed_) {
            // Loss-based estimate when the viewer sends no REMB: back off under loss above
            // 10 %, grow slowly below 2 % (the shape of RFC 8836's loss-based controllers).
            if (estimate_kbps_ <= 0) estimate_kbps_ = track_->config().bitrate_kbps;
            double loss = stats_.fraction_lost;
            if (loss > 0.10) estimate_kbps_ = static_cast<int>(estimate_kbps_ * (1.0 - 0.5 * loss));
            else if (loss < 0.02) estimate_kbps_ = static_cast<int>(estimate_kbps_ * 1.05) + 1;
            estimate_kbps_ = std::clamp(estimate_kbps_, 30, 1000000);
            report_estimate();
          }
          stats_.jitter = b.jitter / 90.0;  // ms at 90 kHz
          if (b.last_sr) {
            // RFC 3550 6.4.1: RTT = A - LSR - DLSR in 1/65536 s units (middle 32 bits of NTP).
            uint32_t a = static_cast<uint32_t>(ntp_now() >> 16);
            uint32_t rtt = a - b.last_sr - b.delay_since_last_sr;
            if (rtt < 65536u * 10) stats_.rtt_ms = rtt * 1000.0 / 65536.0;
          }
        }
        break;
      case RtcpPacket::kRemb:
        // draft-alvestrand-rmcat-remb: the viewer's own estimate of what its path carries.
        if (p.remb_bitrate > 0) {
          remb_seen_ = true;
          remb_kbps_ = static_cast<int>(std::min<uint64_t>(p.remb_bitrate / 1000, 1000000));
          report_estimate();
        }
        break;
      case RtcpPacket::kTransportCc:
        ++stats_.twcc_feedback_received;
        if (!twcc_ext_id_) break;  // not negotiated: not ours to act on
        twcc_.on_feedback(p.transport_cc, now);
        report_estimate();
        break;
      case RtcpPacket::kMalformed:
        ++stats_.twcc_feedback_errors;
        KVS_DEBUG(config_.id, "RTCP ignored: %s", p.error.c_str());
        break;
      case RtcpPacket::kPli:
      case RtcpPacket::kFir: {
        bool pli = p.type == RtcpPacket::kPli;
        if (pli) ++stats_.pli_received;
        else ++stats_.fir_received;
        if (now - last_keyframe_request_us_ < kPeerKeyframeIntervalUs || !track_) break;
        last_keyframe_request_us_ = now;
        track_->request_keyframe();
        if (observer_) observer_->on_keyframe_request(pli ? "pli" : "fir");
        break;
      }
      case RtcpPacket::kNack:
        ++stats_.nack_received;
        if (!track_ || !started_ || !nack_enabled_) break;
        for (uint16_t seq : p.nack_sequences) {
          uint64_t index = first_packet_ + static_cast<uint16_t>(seq - seq_base_);
          uint32_t ts = 0;
          if (const RtpPayload* pl = track_->find_packet(index, &ts))
            send_rtp_packet(*pl, seq, ts + ts_offset_, true);
        }
        break;
      default:
        break;
    }
  }
}

// --- Transport-wide congestion control (twcc.h, docs/engine.md "Rate control") ---

// Negotiated for a section when the offer has the header extension with an id a one-byte header
// can carry (1..14) and the codec offers transport-cc feedback; one id for the whole transport.
void PeerConnection::accept_transport_cc(const MediaSection& offered, const std::vector<std::string>& offered_fb,
                                         RtpCodec* codec, MediaSection* answer) {
  if (std::find(offered_fb.begin(), offered_fb.end(), "transport-cc") == offered_fb.end()) return;
  for (const auto& e : offered.extmaps) {
    if (e.uri != kTransportCcUri || e.id < 1 || e.id > 14 || (twcc_ext_id_ && e.id != twcc_ext_id_)) continue;
    if (!twcc_ext_id_ && !ice_ && track_) twcc_.reset(track_->config().bitrate_kbps);  // start where the encoder starts
    twcc_ext_id_ = e.id;
    codec->rtcp_fb.push_back("transport-cc");
    answer->extmaps.push_back({e.id, "", kTransportCcUri});
    return;
  }
}

void PeerConnection::stamp_transport_cc(RtpHeader* h) {
  h->transport_cc_id = twcc_ext_id_;
  if (twcc_ext_id_) h->transport_sequence = twcc_.next_sequence();
}

void PeerConnection::sent_transport_cc(const RtpHeader& h, size_t bytes) {
  if (h.transport_cc_id) twcc_.on_sent(h.transport_sequence, bytes, monotonic_us());
}

void PeerConnection::note_transport_cc(const uint8_t* packet, size_t size, uint32_t ssrc) {
  auto seq = read_transport_sequence(packet, size, twcc_ext_id_);
  if (!seq) return;
  int64_t now = monotonic_us();
  twcc_rx_.on_packet(*seq, now);
  twcc_media_ssrc_ = ssrc;
  if (now - last_twcc_feedback_us_ >= kTwccFeedbackIntervalUs) send_twcc_feedback();
}

// A receiver report for what we receive (the camera's video in the viewer role, the viewer's
// talk-back in the camera role), once per report interval: the sender learns loss, jitter and
// RTT from it, and knows we are still there (RFC 3550 6.4.2).
void PeerConnection::send_receiver_report() {
  if (!srtp_out_.ready()) return;
  int64_t now = monotonic_us();
  std::vector<ReportBlock> blocks;
  if (video_rx_.active()) blocks.push_back(video_rx_.report_block(remote_video_ssrc_, now));
  if (audio_rx_.active()) blocks.push_back(audio_rx_.report_block(remote_audio_ssrc_, now));
  if (blocks.empty()) return;
  uint8_t buf[8 + 24 * 2 + kSrtpMaxTrailer];
  size_t len = write_receiver_report(ssrc_ ? ssrc_ : 1, blocks, buf);
  if (srtp_out_.protect_rtcp(buf, &len) && ice_->send(buf, len)) ++stats_.receiver_reports_sent;
}

void PeerConnection::send_twcc_feedback() {
  if (!twcc_ext_id_ || !srtp_out_.ready()) return;
  last_twcc_feedback_us_ = monotonic_us();
  TransportFeedback fb;
  std::vector<uint8_t> buf;
  // A backlog (a stalled loop) may take more than one packet; a few at most per call.
  for (int i = 0; i < 4 && twcc_rx_.build_feedback(&fb); ++i) {
    write_transport_feedback(1, twcc_media_ssrc_, fb, &buf);
    if (buf.size() > 1400) continue;  // cannot happen with kMaxPerFeedback packets of <= 2 bytes + chunks
    size_t len = buf.size();
    buf.resize(len + kSrtpMaxTrailer);
    if (srtp_out_.protect_rtcp(buf.data(), &len) && ice_->send(buf.data(), len)) ++stats_.twcc_feedback_sent;
  }
}

// The estimate in force for this viewer: the lower of REMB and TWCC when the viewer sends
// either, else the loss-based estimate from its receiver reports.
void PeerConnection::report_estimate() {
  int kbps = -1;
  const char* source = "";
  if (remb_kbps_ > 0) {
    kbps = remb_kbps_;
    source = "remb";
  }
  if (twcc_.feedback_count() > 0 && (kbps < 0 || twcc_.estimate_kbps() < kbps)) {
    kbps = twcc_.estimate_kbps();
    source = "twcc";
  }
  if (kbps < 0 && estimate_kbps_ > 0) {
    kbps = estimate_kbps_;
    source = "loss";
  }
  if (kbps < 0) return;
  stats_.estimated_kbps = kbps;
  stats_.estimate_source = source;
  if (track_ && subscribed_) track_->report_estimate(this, kbps);
}

// RFC 3550 6.4.1: one SR per stream we send, its RTP time extrapolated to now.
void PeerConnection::send_sender_report() {
  if (!srtp_out_.ready()) return;
  auto report = [this](uint32_t ssrc, uint32_t last_ts, int64_t last_time_us, int clock_khz, uint64_t packets,
                       uint64_t octets) {
    uint8_t buf[64 + kSrtpMaxTrailer];
    uint32_t ts = last_ts + static_cast<uint32_t>((monotonic_us() - last_time_us) * clock_khz / 1000);
    size_t len = write_sender_report(ssrc, ntp_now(), ts, static_cast<uint32_t>(packets), static_cast<uint32_t>(octets), buf);
    if (srtp_out_.protect_rtcp(buf, &len)) ice_->send(buf, len);
  };
  if (started_) report(ssrc_, last_rtp_ts_, last_rtp_time_us_, 90, stats_.packets_sent, stats_.bytes_sent);
  if (audio_started_)
    report(audio_ssrc_, last_audio_ts_, last_audio_time_us_, audio_clock_khz(), stats_.audio_packets_sent, audio_octets_);
}

gboolean PeerConnection::on_report_timer(gpointer p) {
  auto* self = static_cast<PeerConnection*>(p);
  self->send_sender_report();
  self->send_receiver_report();
  self->send_twcc_feedback();
  // RTCP timeout (RFC 3550 6.3.5): a viewer that reported and then went silent for 20 s (5
  // reporting intervals) is gone, even if it never said goodbye (no DTLS close_notify).
  if (self->last_rtcp_us_ && self->state_ == PeerState::kConnected &&
      monotonic_us() - self->last_rtcp_us_ > kRtcpTimeoutUs) {
    KVS_WARN(self->config_.id, "no RTCP from the viewer for %lld s: it is gone", static_cast<long long>(kRtcpTimeoutUs / 1000000));
    self->set_state(PeerState::kFailed);
  }
  return G_SOURCE_CONTINUE;
}

PeerStats PeerConnection::stats() const {
  PeerStats s = stats_;
  s.video_packets_received = video_rx_.received();
  s.video_packets_lost = video_rx_.lost();
  s.state = state_;
  s.ice_state = ice_ ? to_string(ice_->state()) : "new";
  if (!dtls_) s.dtls_state = "new";
  else switch (dtls_->state()) {
    case DtlsTransport::State::kNew: s.dtls_state = "new"; break;
    case DtlsTransport::State::kConnecting: s.dtls_state = "connecting"; break;
    case DtlsTransport::State::kConnected: s.dtls_state = "connected"; break;
    case DtlsTransport::State::kFailed: s.dtls_state = "failed"; break;
    case DtlsTransport::State::kClosed: s.dtls_state = "closed"; break;
  }
  s.srtp_profile = srtp_profile_;
  s.rtx = rtx_pt_ >= 0;
  s.transport_cc = twcc_ext_id_ != 0;
  if (twcc_.feedback_count() > 0) {
    s.twcc_estimate_kbps = twcc_.estimate_kbps();
    if (twcc_.acked_kbps() > 0) s.twcc_acked_kbps = twcc_.acked_kbps();
    s.twcc_loss_fraction = twcc_.loss_fraction();
    s.twcc_delay_signal = to_string(twcc_.signal());
  }
  if (audio_sink_) {
    auto a = audio_sink_->stats();
    s.audio_samples_written = a.samples;
    s.audio_sink_packets = a.packets;
    s.audio_sink_bytes = a.bytes_written;
    s.audio_sink_dropped = a.dropped;
    s.audio_sink_restarts = a.restarts;
  }
  s.dtls_role = dtls_ ? (dtls_->is_client() ? "client" : "server") : "";
  if (ice_) {
    s.send_batches = ice_->batch_syscalls();
    s.packets_sent_batched = ice_->batched_datagrams();
    s.has_pair = ice_->selected_pair(&s.local_address, &s.remote_address, &s.local_type, &s.remote_type);
  }
  return s;
}

void PeerConnection::close() {
  if (state_ == PeerState::kClosed && !observer_) return;
  if (report_timer_) {
    if (GSource* src = g_main_context_find_source_by_id(NetworkThread::instance().context(), report_timer_))
      g_source_destroy(src);
    report_timer_ = 0;
  }
  if (subscribed_ && track_) track_->unsubscribe(this);
  subscribed_ = false;
  if (audio_subscribed_ && audio_track_) audio_track_->unsubscribe(this);
  audio_subscribed_ = false;
  if (audio_sink_) audio_sink_->close();
  if (sctp_) sctp_->close();
  if (dtls_) dtls_->close();
  if (ice_) ice_->close();
  if (pending_done_) {
    auto done = std::move(pending_done_);
    pending_done_ = nullptr;
    done(PeerError{ErrorCode::kClosed, "the peer connection was closed before the answer"}, "");
  }
  set_state(PeerState::kClosed);
  observer_.reset();
}

}  // namespace kvs::rtc
