// Sends a shared AudioTrack to one viewer: Opus (RFC 7587) or G.711 (RFC 3551) as negotiated,
// on its own SSRC, sequence and timestamp offset, and its sender reports (RFC 3550 6.4.1).
// Network thread only: the track calls it there, and the peer that owns it.
#pragma once
#include <cstdint>
#include <memory>

#include "audio_track.h"
#include "bandwidth_estimator.h"
#include "dtls_srtp_transport.h"
#include "jsep.h"
#include "peer_context.h"

namespace kvs::rtc {

class AudioSender : public AudioTrack::Subscriber {
 public:
  AudioSender(const PeerContext& peer, BandwidthEstimator* estimator);
  ~AudioSender() override { stop(); }

  void set_track(std::shared_ptr<AudioTrack> track) { track_ = std::move(track); }
  const std::shared_ptr<AudioTrack>& track() const { return track_; }
  uint32_t ssrc() const { return ssrc_; }
  // What the negotiation settled: the payload type and codec, and whether the viewer receives.
  void configure(int payload_type, AudioCodec codec, bool send);
  bool sending() const { return send_; }

  void start(DtlsSrtpTransport* transport);  // SRTP is keyed: subscribes when negotiated to send
  void stop();                               // idempotent
  void on_audio_frame(const media::EncodedAudioPtr& frame) override;
  void send_sender_report();
  void add_stats(PeerStats* s) const;

 private:
  const PeerContext& peer_;
  BandwidthEstimator* estimator_;
  DtlsSrtpTransport* transport_ = nullptr;
  std::shared_ptr<AudioTrack> track_;
  bool subscribed_ = false;
  int pt_ = -1;
  AudioCodec codec_ = AudioCodec::kOpus;
  bool send_ = false;
  uint32_t ssrc_;
  uint16_t seq_;
  uint32_t ts_offset_;
  bool started_ = false;
  uint32_t last_ts_ = 0;
  int64_t last_time_us_ = 0;
  uint64_t packets_sent_ = 0, octets_ = 0, send_errors_ = 0;
};

}  // namespace kvs::rtc
