// A peer connection: answers a viewer's offer as the camera (or, in the viewer role, makes the
// offer and takes the camera's answer), and wires the parts of one peer together: JSEP
// (jsep.h), ICE (ice_transport.h), DTLS-SRTP (dtls_srtp_transport.h), the video and audio
// senders, the RTP receiver, the bandwidth estimator and SCTP data channels. Network thread
// only: every method, and every listener it implements, runs there.
#pragma once
#include <glib.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "audio_sender.h"
#include "audio_sink.h"
#include "bandwidth_estimator.h"
#include "data_channels.h"
#include "dtls_srtp_transport.h"
#include "ice_transport.h"
#include "jsep.h"
#include "peer_context.h"
#include "peer_error.h"
#include "peer_stats.h"
#include "rtp_receiver.h"
#include "video_sender.h"

namespace kvs::rtc {

struct PeerConfig {
  std::string id;
  IceOptions ice;
  bool wait_for_gathering = false;
  // Our DTLS role when the offer leaves it to us (a=setup:actpass). RFC 8842 5.3 recommends
  // the answerer be active (client); kServer makes it passive.
  enum class DtlsRole { kAuto, kClient, kServer } dtls_role = DtlsRole::kAuto;
  // Where the viewer's audio (talk-back) goes: a WAV or Ogg Opus file, or a playback command;
  // kind "" = not received.
  media::AudioSinkConfig audio_sink;
};

class PeerConnection : public std::enable_shared_from_this<PeerConnection>,
                       public IceTransport::Listener,
                       public DtlsSrtpTransport::Listener {
 public:
  // Called on the network thread. Destroyed when the peer closes.
  class Observer : public DataChannels::Listener {
   public:
    virtual void on_local_candidate(const std::string& candidate, const std::string& mid, int mline) = 0;
    virtual void on_gathering_done() = 0;
    virtual void on_state(PeerState state) = 0;
    virtual void on_keyframe_request(const char* reason) = 0;
    // and the data channel events (DataChannels::Listener)
  };
  using AnswerCallback = std::function<void(std::optional<PeerError> error, std::string answer)>;
  using OfferOptions = rtc::OfferOptions;  // viewer role: what the offer asks for
  using AudioCodec = rtc::AudioCodec;

  static std::shared_ptr<PeerConnection> create(PeerConfig config, std::unique_ptr<Observer> observer);
  ~PeerConnection() override;

  const std::string& id() const { return config_.id; }
  void add_track(std::shared_ptr<VideoTrack> track) { video_.set_track(std::move(track)); }
  void add_audio_track(std::shared_ptr<AudioTrack> track) { audio_.set_track(std::move(track)); }
  // Parses the offer, starts ICE, and calls done with the answer (at once, or at the end of
  // gathering with wait_for_gathering). A second offer renegotiates; a new ICE ufrag restarts ICE.
  void set_remote_offer(const std::string& sdp, AnswerCallback done);
  // Viewer role (HIL rigs checking a camera): creates the offer (ICE controlling, DTLS
  // actpass), then takes the camera's answer; received H.264 is depacketized and counted.
  void create_offer(const OfferOptions& options, AnswerCallback done);
  void set_remote_answer(const std::string& sdp, std::function<void(std::optional<PeerError>)> done);

  // Data channels (RFC 8831/8832), once DTLS is up: open one from our side (its id), send a
  // text or binary message, close one.
  std::optional<PeerError> open_data_channel(const DataChannelInfo& options, int* id);
  std::optional<PeerError> send_data(uint16_t id, bool binary, const std::vector<uint8_t>& data);
  void close_data_channel(uint16_t id) { data_.close_channel(id); }

  // "candidate:..." or "" for end-of-candidates.
  std::optional<PeerError> add_remote_candidate(const std::string& candidate, const std::string& mid);
  PeerStats stats() const;
  void close();  // idempotent; the observer gets "closed" and is then released

 private:
  explicit PeerConnection(PeerConfig config, std::unique_ptr<Observer> observer);

  // Creates and initializes ICE; a PeerError when libnice refuses.
  std::optional<PeerError> start_ice(bool controlling);
  // Hands the description out now, or at the end of gathering with wait_for_gathering.
  void hand_out(AnswerCallback done);
  std::string finish_local();
  void add_candidates(const MediaSection& remote);
  void apply(const NegotiatedAnswer& n, bool first);
  void create_transport(bool client, const MediaSection& remote);
  void set_state(PeerState s);
  void dispatch_rtcp(const RtcpPacket& p, int64_t now);
  void report_estimate(int kbps) {
    if (kbps >= 0) video_.report_estimate(kbps);
  }
  static gboolean on_report_timer(gpointer self);

  // IceTransport::Listener
  void on_ice_candidate(const std::string& candidate) override;
  void on_ice_gathering_done() override;
  void on_ice_state(IceTransport::State state) override;
  void on_ice_packet(const uint8_t* data, size_t size) override;
  // DtlsSrtpTransport::Listener
  void on_srtp_ready() override;
  void on_dtls_srtp_failed(const std::string& reason) override;
  void on_dtls_srtp_closed() override;
  void on_rtp(const uint8_t* packet, size_t size) override { receiver_.on_rtp(packet, size); }
  void on_rtcp(uint8_t* packet, size_t size) override;
  void on_application_data(const uint8_t* data, size_t size) override { data_.receive(data, size); }

  PeerConfig config_;
  PeerContext peer_;  // id, offer time and state, read by the parts below
  std::unique_ptr<Observer> observer_;
  std::unique_ptr<IceTransport> ice_;
  std::unique_ptr<DtlsSrtpTransport> transport_;
  BandwidthEstimator estimator_;
  VideoSender video_{peer_, &estimator_};
  AudioSender audio_{peer_, &estimator_};
  RtpReceiver receiver_{peer_};
  DataChannels data_;

  // Negotiation
  bool offerer_ = false;
  LocalOffer offer_;          // viewer role: what we offered
  SessionDescription local_;  // our description: the answer (camera role) or the offer (viewer role)
  std::string remote_ufrag_;
  std::string bundle_mid_;
  int bundle_mline_ = 0;
  bool local_pending_ = false;  // written, waiting for gathering before it is handed out
  AnswerCallback pending_done_;
  std::vector<std::string> early_candidates_;  // gathered before the answer was written
  bool gathering_done_ = false;
  uint64_t session_version_ = 1;

  guint report_timer_ = 0;
  int64_t last_rtcp_us_ = 0;  // when the other side last sent RTCP (RTCP timeout)
  double ice_connected_ms_ = -1, dtls_connected_ms_ = -1;
  uint64_t pli_received_ = 0, fir_received_ = 0, nack_received_ = 0;
};

}  // namespace kvs::rtc
