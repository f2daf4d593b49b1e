// A camera-side peer connection: answers a viewer's offer (JSEP, RFC 8829), runs ICE, DTLS-SRTP
// and RTP/RTCP for one viewer, and sends a shared VideoTrack with its own SSRC, sequence and
// timestamp offsets and SRTP keys. Every method runs on the network thread.
#pragma once
#include <glib.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dtls_transport.h"
#include "h264_depacketizer.h"
#include "ice_transport.h"
#include "sctp_transport.h"
#include "sdp.h"
#include "srtp_session.h"
#include "receive_stats.h"
#include "twcc.h"
#include "audio_track.h"
#include "video_track.h"
#include "audio_sink.h"

namespace kvs::rtc {

enum class PeerState { kNew, kConnecting, kConnected, kDisconnected, kFailed, kClosed };
const char* to_string(PeerState s);

enum class ErrorCode { kSdpParse, kSdpUnsupported, kInvalidArg, kInvalidState, kIce, kDtls, kClosed };
const char* to_string(ErrorCode c);

struct PeerError {
  ErrorCode code;
  std::string message;
};

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

struct PeerStats {
  PeerState state = PeerState::kNew;
  std::string ice_state, dtls_state;
  std::string dtls_role;     // "client" | "server" once known
  std::string srtp_profile;  // negotiated DTLS-SRTP protection profile
  bool has_pair = false;
  std::string local_address, remote_address, local_type, remote_type;
  uint64_t packets_sent = 0, bytes_sent = 0, frames_sent = 0, keyframes_sent = 0;
  uint64_t packets_received = 0, bytes_received = 0;
  uint64_t pli_received = 0, fir_received = 0, nack_received = 0, retransmitted = 0;
  bool rtx = false;  // retransmissions go out as RTX
  uint64_t send_errors = 0;
  // Video packets that left in batched sends (sendmmsg / UDP GSO, docs/send-path.md), and those
  // system calls; both stay 0 on a relayed (TURN) or TCP pair, where libnice sends each packet.
  uint64_t send_batches = 0, packets_sent_batched = 0;
  uint64_t data_messages_sent = 0, data_messages_received = 0, data_bytes_sent = 0, data_bytes_received = 0;
  uint64_t audio_packets_sent = 0, audio_packets_received = 0, audio_bytes_received = 0;
  uint64_t audio_samples_written = 0;
  // The talk-back sink: payloads taken, bytes written to the file or command, packets dropped
  // while the playback command was down or not reading, and its restarts.
  uint64_t audio_sink_packets = 0, audio_sink_bytes = 0, audio_sink_dropped = 0, audio_sink_restarts = 0;
  // Viewer role
  uint64_t frames_received = 0, keyframes_received = 0, video_bytes_received = 0, incomplete_frames = 0;
  // Viewer role: video RTP packets received and lost (RFC 3550 A.3: expected from the extended
  // highest sequence number minus received; retransmissions can make it briefly negative -> 0).
  uint64_t video_packets_received = 0, video_packets_lost = 0;
  uint64_t receiver_reports_sent = 0;
  // Frames since the last IDR sent at once when this viewer connected (0: it waited for an IDR).
  uint64_t join_burst_frames = 0;
  double first_frame_received_ms = -1;
  // From the camera's capture-timestamp SEI: last value, and sum / count for the mean.
  double glass_to_glass_ms = -1, glass_to_glass_sum_ms = 0;
  uint64_t glass_to_glass_samples = 0;
  double rtt_ms = -1, fraction_lost = -1, jitter = -1;
  int estimated_kbps = -1;  // REMB, TWCC or loss-based estimate of this viewer's path
  std::string estimate_source;  // which one is in force: "remb" | "twcc" | "loss" ("" = none yet)
  // Transport-wide congestion control (twcc.h): negotiated, feedback counts, our estimate.
  bool transport_cc = false;
  uint64_t twcc_feedback_received = 0, twcc_feedback_errors = 0, twcc_feedback_sent = 0;
  int twcc_estimate_kbps = -1, twcc_acked_kbps = -1;
  double twcc_loss_fraction = -1;
  std::string twcc_delay_signal;  // "normal" | "overuse" | "underuse" once feedback arrived
  double ice_connected_ms = -1, dtls_connected_ms = -1, first_frame_ms = -1;
};

class PeerConnection : public std::enable_shared_from_this<PeerConnection>,
                       public IceTransport::Listener,
                       public DtlsTransport::Listener,
                       public VideoTrack::Subscriber,
                       public AudioTrack::Subscriber,
                       public SctpTransport::Listener {
 public:
  // Called on the network thread. Destroyed when the peer closes.
  class Observer {
   public:
    virtual ~Observer() = default;
    virtual void on_local_candidate(const std::string& candidate, const std::string& mid, int mline) = 0;
    virtual void on_gathering_done() = 0;
    virtual void on_state(PeerState state) = 0;
    virtual void on_keyframe_request(const char* reason) = 0;
    virtual void on_data_channel_open(const DataChannelInfo& channel) {}
    virtual void on_data_channel_message(uint16_t id, bool binary, const uint8_t* data, size_t size) {}
    virtual void on_data_channel_closed(uint16_t id) {}
  };
  using AnswerCallback = std::function<void(std::optional<PeerError> error, std::string answer)>;

  // Viewer role: what the offer asks for.
  enum class AudioCodec { kOpus, kPcmu, kPcma };

  struct OfferOptions {
    bool video = true;        // H.264, recvonly
    std::string audio;        // "" (none), "recvonly" or "sendrecv" (needs an audio track)
    bool data_channel = false;  // an m=application section for SCTP data channels
  };

  static std::shared_ptr<PeerConnection> create(PeerConfig config, std::unique_ptr<Observer> observer);
  ~PeerConnection() override;

  const std::string& id() const { return config_.id; }
  void add_track(std::shared_ptr<VideoTrack> track);
  void add_audio_track(std::shared_ptr<AudioTrack> track);
  // Parses the offer, starts ICE, and calls done with the answer (at once, or at the end of
  // gathering with wait_for_gathering). A second offer renegotiates; a new ICE ufrag restarts ICE.
  void set_remote_offer(const std::string& sdp, AnswerCallback done);
  // "candidate:..." or "" for end-of-candidates.
  // Viewer role (HIL rigs checking a camera): creates the offer (ICE controlling, DTLS
  // actpass), then takes the camera's answer; received H.264 is depacketized and counted.
  void create_offer(const OfferOptions& options, AnswerCallback done);
  void set_remote_answer(const std::string& sdp, std::function<void(std::optional<PeerError>)> done);

  // Data channels (RFC 8831/8832), once DTLS is up: open one from our side (its id), send a
  // text or binary message, close one.
  std::optional<PeerError> open_data_channel(const DataChannelInfo& options, int* id);
  std::optional<PeerError> send_data(uint16_t id, bool binary, const std::vector<uint8_t>& data);
  void close_data_channel(uint16_t id);

  std::optional<PeerError> add_remote_candidate(const std::string& candidate, const std::string& mid);
  PeerStats stats() const;
  void close();  // idempotent; the observer gets "closed" and is then released

 private:
  explicit PeerConnection(PeerConfig config, std::unique_ptr<Observer> observer);

  std::optional<PeerError> apply_offer(const SessionDescription& offer, SessionDescription* answer);
  std::string finish_answer();
  void set_state(PeerState s);
  // One video packet written and SRTP-protected into buf (kPacketSlot bytes): its length, or 0
  // when it cannot go (a refused protect is counted as a send error).
  size_t build_rtp_packet(const RtpPayload& payload, uint16_t seq, uint32_t ts, bool retransmission, uint8_t* buf);
  void send_rtp_packet(const RtpPayload& payload, uint16_t seq, uint32_t ts, bool retransmission);
  void count_sent(bool sent, size_t len);  // a video packet that left (or was refused) in stats
  static constexpr size_t kPacketSlot = kRtpMaxHeaderSize + 2 + 1500 + kSrtpMaxTrailer;
  void handle_rtcp(uint8_t* data, size_t size);
  void send_sender_report();
  void send_receiver_report();
  static gboolean on_report_timer(gpointer self);
  double since_offer_ms() const;
  bool dtls_client_for(const std::string& remote_setup) const;

  // IceTransport::Listener
  void on_ice_candidate(const std::string& candidate) override;
  void on_ice_gathering_done() override;
  void on_ice_state(IceTransport::State state) override;
  void on_ice_packet(const uint8_t* data, size_t size) override;
  // DtlsTransport::Listener
  void on_dtls_send(const uint8_t* data, size_t size) override;
  void on_dtls_connected(const SrtpKeys& keys) override;
  void on_dtls_failed(const std::string& reason) override;
  void on_dtls_closed() override;
  // VideoTrack::Subscriber
  void on_track_frame(const PacketizedFramePtr& frame) override;
  // DtlsTransport::Listener (application data = SCTP)
  void on_dtls_data(const uint8_t* data, size_t size) override;
  // SctpTransport::Listener
  void on_sctp_send(const uint8_t* data, size_t size) override;
  void on_channel_open(const DataChannelInfo& channel) override;
  void on_channel_message(uint16_t id, bool binary, const uint8_t* data, size_t size) override;
  void on_channel_closed(uint16_t id) override;
  // AudioTrack::Subscriber
  void on_audio_frame(const media::EncodedAudioPtr& frame) override;
  void handle_rtp(const uint8_t* packet, size_t size);
  void on_access_unit(const AccessUnit& au);
  void read_capture_timestamp(const AccessUnit& au);

  PeerConfig config_;
  std::unique_ptr<Observer> observer_;
  std::shared_ptr<VideoTrack> track_;
  std::shared_ptr<AudioTrack> audio_track_;
  std::unique_ptr<media::AudioSink> audio_sink_;  // opened when media flows
  int audio_pt_ = -1;          // negotiated audio payload type
  AudioCodec audio_codec_ = AudioCodec::kOpus;
  int audio_clock_khz() const { return audio_codec_ == AudioCodec::kOpus ? 48 : 8; }
  bool audio_send_ = false, audio_receive_ = false;
  uint32_t audio_ssrc_ = 0;
  uint16_t audio_seq_ = 0;
  uint32_t audio_ts_offset_ = 0;
  bool audio_started_ = false;
  uint32_t last_audio_ts_ = 0;
  int64_t last_audio_time_us_ = 0;
  uint64_t audio_octets_ = 0;
  // Data channels
  std::shared_ptr<SctpTransport> sctp_;
  bool data_channels_ = false;
  int remote_sctp_port_ = 5000;
  // Viewer role
  bool offerer_ = false;
  std::vector<int> offered_video_pts_;
  std::unique_ptr<H264Depacketizer> depacketizer_;
  uint32_t remote_video_ssrc_ = 0;
  // What we receive: the camera's video (viewer role) and the other side's audio.
  ReceiveStatistics video_rx_{90000}, audio_rx_{48000};
  uint32_t remote_audio_ssrc_ = 0;
  int64_t last_pli_sent_us_ = 0;
  std::unique_ptr<IceTransport> ice_;
  std::unique_ptr<DtlsTransport> dtls_;
  SrtpSession srtp_out_, srtp_in_;
  PeerState state_ = PeerState::kNew;
  bool subscribed_ = false;
  bool audio_subscribed_ = false;

  // Negotiation
  SessionDescription local_;  // our description: the answer (camera role) or the offer (viewer role)
  std::string remote_ufrag_;
  std::string bundle_mid_;
  int bundle_mline_ = 0;
  bool local_pending_ = false;  // written, waiting for gathering before it is handed out
  AnswerCallback pending_done_;
  std::vector<std::string> early_candidates_;  // gathered before the answer was written
  bool gathering_done_ = false;
  int video_pt_ = -1;
  bool nack_enabled_ = false;
  int rtx_pt_ = -1;  // RTX payload type when negotiated (RFC 4588)
  uint32_t rtx_ssrc_ = 0;
  uint16_t rtx_seq_ = 0;
  bool remb_seen_ = false;
  int estimate_kbps_ = 0;  // loss-based, from receiver reports
  int remb_kbps_ = -1;
  // Transport-wide congestion control: the header extension id (0 = not negotiated; the
  // transport-cc feedback type comes with it), our numbering + estimate, what we receive.
  int twcc_ext_id_ = 0;
  TwccSender twcc_;
  TwccReceiver twcc_rx_;
  uint32_t twcc_media_ssrc_ = 0;
  int64_t last_twcc_feedback_us_ = 0;
  void accept_transport_cc(const MediaSection& offered, const std::vector<std::string>& offered_fb, RtpCodec* codec,
                           MediaSection* answer);
  void stamp_transport_cc(RtpHeader* h);
  void sent_transport_cc(const RtpHeader& h, size_t bytes);
  void note_transport_cc(const uint8_t* packet, size_t size, uint32_t ssrc);
  void send_twcc_feedback();
  void report_estimate();  // the estimate in force to stats and the track
  std::string srtp_profile_;
  uint64_t session_version_ = 1;

  // Video sending state
  uint32_t ssrc_ = 0;
  uint16_t seq_base_ = 0;
  uint32_t ts_offset_ = 0;
  bool started_ = false;       // the first keyframe was sent
  uint64_t first_packet_ = 0;  // track index sent as seq_base_
  uint32_t last_rtp_ts_ = 0;
  int64_t last_rtp_time_us_ = 0;
  int64_t last_keyframe_request_us_ = 0;
  guint report_timer_ = 0;
  int64_t last_rtcp_us_ = 0;  // when the viewer last sent RTCP (RTCP timeout)

  // Timing and counters
  int64_t offer_time_us_ = 0;
  PeerStats stats_;
};

}  // namespace kvs::rtc
