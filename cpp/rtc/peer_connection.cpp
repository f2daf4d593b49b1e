#include "peer_connection.h"

#include "log.h"
#include "network_thread.h"
#include "rtcp.h"

namespace kvs::rtc {

using media::monotonic_us;
namespace {

constexpr guint kReportIntervalMs = 1000;
constexpr int64_t kRtcpTimeoutUs = 20000000;

PeerError closed_error() { return PeerError{ErrorCode::kClosed, "the peer connection is closed"}; }

}  // namespace

std::shared_ptr<PeerConnection> PeerConnection::create(PeerConfig config, std::unique_ptr<Observer> observer) {
  return std::shared_ptr<PeerConnection>(new PeerConnection(std::move(config), std::move(observer)));
}

PeerConnection::PeerConnection(PeerConfig config, std::unique_ptr<Observer> observer)
    : config_(std::move(config)), observer_(std::move(observer)), data_(config_.id) {
  peer_.id = config_.id;
  data_.set_listener(observer_.get());
}

PeerConnection::~PeerConnection() { close(); }

std::optional<PeerError> PeerConnection::start_ice(bool controlling) {
  ice_ = std::make_unique<IceTransport>(this, NetworkThread::instance().context(), config_.id);
  IceOptions opts = config_.ice;
  opts.controlling = controlling;
  std::string error;
  if (!ice_->init(opts, &error)) return PeerError{ErrorCode::kIce, error};
  return std::nullopt;
}

void PeerConnection::create_transport(bool client, const MediaSection& remote) {
  transport_ = std::make_unique<DtlsSrtpTransport>(this, ice_.get(), NetworkThread::instance().context(), config_.id,
                                                   client, remote.fingerprint_algorithm, remote.fingerprint);
}

void PeerConnection::add_candidates(const MediaSection& remote) {
  for (const auto& c : remote.candidates) {
    std::string error;
    if (!ice_->add_remote_candidate(c, &error)) KVS_WARN(config_.id, "%s", error.c_str());
  }
  if (remote.end_of_candidates) ice_->remote_gathering_done();
}

void PeerConnection::set_remote_offer(const std::string& sdp, AnswerCallback done) {
  if (peer_.state == PeerState::kClosed) return done(closed_error(), "");
  if (local_pending_) return done(PeerError{ErrorCode::kInvalidState, "an offer is already being answered"}, "");
  SessionDescription offer;
  try {
    offer = parse_sdp(sdp);
  } catch (const SdpError& e) {
    return done(PeerError{e.kind() == SdpError::kParse ? ErrorCode::kSdpParse : ErrorCode::kSdpUnsupported,
                          std::string("offer rejected: ") + e.what()},
                "");
  }
  bool first = !ice_;
  if (first) {
    peer_.offer_time_us = monotonic_us();
    if (auto& track = video_.track()) {
      // Encode while ICE and DTLS run, starting from a fresh IDR: at DTLS connect the few
      // frames since that IDR are sent at once (see VideoSender::start).
      track->warm_up();
      track->request_keyframe(true);
    }
    if (audio_.track()) audio_.track()->warm_up();
  }
  AnswerContext context;
  context.video_track = video_.track() != nullptr;
  context.audio_track = audio_.track() != nullptr;
  context.audio_sink = config_.audio_sink.enabled();
  context.video_ssrc = video_.ssrc();
  context.rtx_ssrc = video_.rtx_ssrc();
  context.audio_ssrc = audio_.ssrc();
  if (ice_) ice_->local_credentials(&context.ice_ufrag, &context.ice_pwd);
  context.fingerprint_sha256 = Certificate::instance().fingerprint_sha256();
  if (transport_) context.dtls_client = transport_->is_client();
  context.prefer_dtls_server = config_.dtls_role == PeerConfig::DtlsRole::kServer;
  context.transport_mline = first ? -1 : bundle_mline_;
  context.session_id = local_.session_id ? local_.session_id : (random_value<uint64_t>() >> 2);
  context.session_version = ++session_version_;
  NegotiatedAnswer n;
  if (auto err = answer_offer(offer, context, &n)) {
    KVS_WARN(config_.id, "%s", err->message.c_str());
    return done(err, "");
  }
  apply(n, first);
  const MediaSection& remote = offer.media[bundle_mline_];
  if (first) {
    if (auto err = start_ice(offer.ice_lite)) return done(err, "");
    create_transport(n.dtls_client, remote);
    ice_->set_remote_credentials(remote.ice_ufrag, remote.ice_pwd);
    remote_ufrag_ = remote.ice_ufrag;
    set_state(PeerState::kConnecting);
    local_ = std::move(n.answer);
    local_pending_ = true;  // candidates gathered now go into the answer
    if (!ice_->gather()) {
      local_pending_ = false;
      return done(PeerError{ErrorCode::kIce, "ICE gathering could not start (no usable interface?)"}, "");
    }
  } else {
    if (remote.ice_ufrag != remote_ufrag_) {
      KVS_INFO(config_.id, "ICE restart requested by the remote offer");
      ice_->restart();
      ice_->set_remote_credentials(remote.ice_ufrag, remote.ice_pwd);
      remote_ufrag_ = remote.ice_ufrag;
    }
    local_ = std::move(n.answer);
    local_pending_ = true;
    // A new generation of credentials invalidates the candidates the viewer had: all of ours
    // go into this answer again.
    early_candidates_ = ice_->local_candidates();
  }
  add_candidates(remote);
  hand_out(std::move(done));
}

// What the answer settled, to the parts; a group a renegotiation left out keeps what it had.
void PeerConnection::apply(const NegotiatedAnswer& n, bool first) {
  bundle_mline_ = n.transport_mline;
  bundle_mid_ = n.transport_mid;
  if (first && n.twcc_ext_id && video_.track()) estimator_.reset(video_.track()->config().bitrate_kbps);
  estimator_.set_transport_cc(n.twcc_ext_id);
  receiver_.set_transport_cc(n.twcc_ext_id);
  if (n.video) video_.configure(n.video_pt, n.nack, n.rtx_pt);
  if (n.audio) {
    audio_.configure(n.audio_pt, n.audio_codec, n.audio_send);
    receiver_.configure_audio(n.audio_pt, n.audio_codec, n.audio_receive);
  }
  if (n.data_channels) data_.negotiated(n.remote_sctp_port);
}

void PeerConnection::hand_out(AnswerCallback done) {
  if (config_.wait_for_gathering && !gathering_done_) {
    pending_done_ = std::move(done);
    return;
  }
  done(std::nullopt, finish_local());
}

std::string PeerConnection::finish_local() {
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

void PeerConnection::create_offer(const OfferOptions& options, AnswerCallback done) {
  if (peer_.state == PeerState::kClosed) return done(closed_error(), "");
  if (ice_) return done(PeerError{ErrorCode::kInvalidState, "an offer or answer was already made on this peer"}, "");
  if (auto err = check_offer_options(options, audio_.track() != nullptr)) return done(err, "");
  offerer_ = true;
  peer_.offer_time_us = monotonic_us();
  if (auto err = start_ice(true)) return done(err, "");  // RFC 8445 6.1.1: the full-ICE offerer controls
  OfferContext context;
  context.audio_sink = config_.audio_sink.enabled();
  context.audio_ssrc = audio_.ssrc();
  ice_->local_credentials(&context.ice_ufrag, &context.ice_pwd);
  context.fingerprint_sha256 = Certificate::instance().fingerprint_sha256();
  context.session_id = random_value<uint64_t>() >> 2;
  context.session_version = ++session_version_;
  offer_ = make_offer(options, context);
  if (!offer_.video_pts.empty()) receiver_.expect_video(offer_.video_pts);
  if (offer_.audio_pt >= 0) {
    audio_.configure(offer_.audio_pt, AudioCodec::kOpus, offer_.audio_send);
    receiver_.configure_audio(offer_.audio_pt, AudioCodec::kOpus, offer_.audio_receive);
  }
  bundle_mline_ = 0;
  bundle_mid_ = offer_.offer.media[0].mid;
  local_ = offer_.offer;  // our local description
  local_pending_ = true;
  set_state(PeerState::kConnecting);
  if (audio_.track() && audio_.sending()) audio_.track()->warm_up();
  if (!ice_->gather()) {
    local_pending_ = false;
    return done(PeerError{ErrorCode::kIce, "ICE gathering could not start (no usable interface?)"}, "");
  }
  hand_out(std::move(done));
}

void PeerConnection::set_remote_answer(const std::string& sdp, std::function<void(std::optional<PeerError>)> done) {
  if (peer_.state == PeerState::kClosed) return done(closed_error());
  if (!offerer_ || transport_) return done(PeerError{ErrorCode::kInvalidState, "no offer of ours is waiting for an answer"});
  SessionDescription answer;
  try {
    answer = parse_sdp(sdp);
  } catch (const SdpError& e) {
    return done(PeerError{ErrorCode::kSdpParse, std::string("answer rejected: ") + e.what()});
  }
  NegotiatedOffer n;
  if (auto err = accept_answer(offer_, answer, &n)) return done(err);
  if (n.twcc_ext_id) {
    estimator_.set_transport_cc(n.twcc_ext_id);
    receiver_.set_transport_cc(n.twcc_ext_id);
  }
  if (n.data_channels) data_.negotiated(n.remote_sctp_port);
  const MediaSection& t = *n.transport;
  ice_->set_remote_credentials(t.ice_ufrag, t.ice_pwd);
  remote_ufrag_ = t.ice_ufrag;
  create_transport(n.dtls_client, t);
  add_candidates(t);
  if (ice_->state() == IceTransport::State::kConnected && transport_->is_client()) transport_->start();
  done(std::nullopt);
}

std::optional<PeerError> PeerConnection::add_remote_candidate(const std::string& candidate, const std::string& mid) {
  if (peer_.state == PeerState::kClosed) return closed_error();
  if (!ice_) return PeerError{ErrorCode::kInvalidState, "a remote candidate arrived before the offer"};
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
  if (s == peer_.state || peer_.state == PeerState::kClosed) return;
  peer_.state = s;
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
    done(std::nullopt, finish_local());
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
      if (ice_connected_ms_ < 0) ice_connected_ms_ = peer_.since_offer_ms();
      if (!transport_) break;  // offerer: the answer (and with it our DTLS role) is not in yet
      if (transport_->state() == DtlsTransport::State::kConnected) set_state(PeerState::kConnected);
      else if (transport_->is_client()) transport_->start();
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
  if (transport_) transport_->receive(data, size);
}

void PeerConnection::on_srtp_ready() {
  dtls_connected_ms_ = peer_.since_offer_ms();
  set_state(PeerState::kConnected);
  if (video_.start(transport_.get()) && observer_) observer_->on_keyframe_request("join");
  data_.start(transport_.get());
  audio_.start(transport_.get());
  receiver_.start(transport_.get(), config_.audio_sink);
  if (!report_timer_) {
    GSource* src = g_timeout_source_new(kReportIntervalMs);
    g_source_set_callback(src, &PeerConnection::on_report_timer, this, nullptr);
    report_timer_ = g_source_attach(src, NetworkThread::instance().context());
    g_source_unref(src);
  }
}

void PeerConnection::on_dtls_srtp_failed(const std::string& reason) {
  KVS_WARN(config_.id, "DTLS: %s", reason.c_str());
  set_state(PeerState::kFailed);
}

void PeerConnection::on_dtls_srtp_closed() {
  KVS_INFO(config_.id, "the viewer closed the connection (DTLS close_notify)");
  // Not from inside the transport's own receive path: close on the next loop iteration.
  std::weak_ptr<PeerConnection> weak = weak_from_this();
  NetworkThread::instance().post_later([weak] {
    if (auto self = weak.lock()) self->close();
  });
}

void PeerConnection::on_rtcp(uint8_t* packet, size_t size) {
  last_rtcp_us_ = monotonic_us();
  std::vector<RtcpPacket> packets;
  parse_rtcp(packet, size, &packets);
  int64_t now = monotonic_us();
  for (const auto& p : packets) dispatch_rtcp(p, now);
}

void PeerConnection::dispatch_rtcp(const RtcpPacket& p, int64_t now) {
  switch (p.type) {
    case RtcpPacket::kSenderReport:
    case RtcpPacket::kReceiverReport:
      if (p.type == RtcpPacket::kSenderReport) receiver_.on_sender_report(p.sender_ssrc, p.ntp_timestamp, now);
      for (const auto& b : p.reports) {
        if (b.ssrc != video_.ssrc()) continue;
        bool sending = video_.track() && video_.subscribed();
        report_estimate(estimator_.on_report_block(b, sending, sending ? video_.track()->config().bitrate_kbps : 0));
      }
      break;
    case RtcpPacket::kRemb:
      report_estimate(estimator_.on_remb(p.remb_bitrate));
      break;
    case RtcpPacket::kTransportCc:
      report_estimate(estimator_.on_transport_feedback(p.transport_cc, now));
      break;
    case RtcpPacket::kMalformed:
      estimator_.on_malformed();
      KVS_DEBUG(config_.id, "RTCP ignored: %s", p.error.c_str());
      break;
    case RtcpPacket::kPli:
    case RtcpPacket::kFir:
      ++(p.type == RtcpPacket::kPli ? pli_received_ : fir_received_);
      if (video_.on_keyframe_request() && observer_)
        observer_->on_keyframe_request(p.type == RtcpPacket::kPli ? "pli" : "fir");
      break;
    case RtcpPacket::kNack:
      ++nack_received_;
      video_.on_nack(p.nack_sequences);
      break;
    default:
      break;
  }
}

std::optional<PeerError> PeerConnection::open_data_channel(const DataChannelInfo& options, int* id) {
  if (peer_.state == PeerState::kClosed) return closed_error();
  return data_.open(options, id);
}

std::optional<PeerError> PeerConnection::send_data(uint16_t id, bool binary, const std::vector<uint8_t>& data) {
  if (peer_.state == PeerState::kClosed) return closed_error();
  return data_.send(id, binary, data);
}

gboolean PeerConnection::on_report_timer(gpointer p) {
  auto* self = static_cast<PeerConnection*>(p);
  // RFC 3550 6.4.1: one SR per stream we send, its RTP time extrapolated to now.
  self->video_.send_sender_report();
  self->audio_.send_sender_report();
  self->receiver_.send_receiver_report(self->video_.ssrc());
  self->receiver_.send_transport_feedback();
  // RTCP timeout (RFC 3550 6.3.5): a viewer that reported and then went silent for 20 s (5
  // reporting intervals) is gone, even if it never said goodbye (no DTLS close_notify).
  if (self->last_rtcp_us_ && self->peer_.state == PeerState::kConnected &&
      monotonic_us() - self->last_rtcp_us_ > kRtcpTimeoutUs) {
    KVS_WARN(self->config_.id, "no RTCP from the viewer for %lld s: it is gone",
             static_cast<long long>(kRtcpTimeoutUs / 1000000));
    self->set_state(PeerState::kFailed);
  }
  return G_SOURCE_CONTINUE;
}

PeerStats PeerConnection::stats() const {
  PeerStats s;
  s.state = peer_.state;
  video_.add_stats(&s);
  audio_.add_stats(&s);
  receiver_.add_stats(&s);
  estimator_.add_stats(&s);
  s.pli_received = pli_received_;
  s.fir_received = fir_received_;
  s.nack_received = nack_received_;
  data_.add_stats(&s);
  s.ice_connected_ms = ice_connected_ms_;
  s.dtls_connected_ms = dtls_connected_ms_;
  s.ice_state = ice_ ? to_string(ice_->state()) : "new";
  s.dtls_state = "new";
  if (transport_) transport_->add_stats(&s);
  if (ice_) {
    s.send_batches = ice_->batch_syscalls();
    s.packets_sent_batched = ice_->batched_datagrams();
    s.has_pair = ice_->selected_pair(&s.local_address, &s.remote_address, &s.local_type, &s.remote_type);
  }
  return s;
}

void PeerConnection::close() {
  if (peer_.state == PeerState::kClosed && !observer_) return;
  if (report_timer_) {
    if (GSource* src = g_main_context_find_source_by_id(NetworkThread::instance().context(), report_timer_))
      g_source_destroy(src);
    report_timer_ = 0;
  }
  video_.stop();
  audio_.stop();
  receiver_.close();
  data_.close();
  data_.set_listener(nullptr);
  if (transport_) transport_->close();
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
