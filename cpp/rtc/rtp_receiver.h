// What one peer receives over RTP, and the feedback that goes back for it. Camera role: the
// viewer's talk-back audio into the audio sink. Viewer role: the camera's H.264 reassembled into
// access units (RFC 6184), a PLI when we joined mid-GOP (RFC 4585 6.3.1), and the capture-time
// SEI read for glass-to-glass latency. Both: receive statistics and receiver reports (RFC 3550
// 6.4.2), and transport-wide feedback for what arrives. Network thread only.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "audio_sink.h"
#include "dtls_srtp_transport.h"
#include "h264_depacketizer.h"
#include "jsep.h"
#include "peer_context.h"
#include "receive_stats.h"
#include "rtp.h"
#include "twcc.h"

namespace kvs::rtc {

class RtpReceiver {
 public:
  explicit RtpReceiver(const PeerContext& peer) : peer_(peer) {}

  // Viewer role: the camera's video comes with one of these H.264 payload types.
  void expect_video(std::vector<int> payload_types);
  // The audio payload type and codec, and whether it is taken (a sink is configured and the
  // other side sends).
  void configure_audio(int payload_type, AudioCodec codec, bool receive);
  void set_transport_cc(int ext_id) { twcc_ext_id_ = ext_id; }

  // SRTP is keyed: opens the sink when audio is taken. `sink` is the peer's talk-back config.
  void start(DtlsSrtpTransport* transport, const media::AudioSinkConfig& sink);
  void close();

  void on_rtp(const uint8_t* packet, size_t size);  // unprotected
  void on_sender_report(uint32_t ssrc, uint64_t ntp, int64_t now_us);
  // Once per report interval: the report blocks for what we receive, from `sender_ssrc`.
  void send_receiver_report(uint32_t sender_ssrc);
  void send_transport_feedback();

  void add_stats(PeerStats* s) const;

 private:
  void on_video(const RtpHeader& h, const uint8_t* packet, size_t size);
  void on_audio(const RtpHeader& h, const uint8_t* packet, size_t size);
  void note_transport_cc(const uint8_t* packet, size_t size, uint32_t ssrc);
  void on_access_unit(const AccessUnit& au);
  void read_capture_timestamp(const AccessUnit& au);

  const PeerContext& peer_;
  DtlsSrtpTransport* transport_ = nullptr;
  // Viewer role
  std::vector<int> video_pts_;
  std::unique_ptr<H264Depacketizer> depacketizer_;
  uint32_t remote_video_ssrc_ = 0;
  int64_t last_pli_sent_us_ = 0;
  // Audio
  int audio_pt_ = -1;
  AudioCodec audio_codec_ = AudioCodec::kOpus;
  bool audio_receive_ = false;
  std::unique_ptr<media::AudioSink> audio_sink_;  // opened when media flows
  uint32_t remote_audio_ssrc_ = 0;
  ReceiveStatistics video_rx_{90000}, audio_rx_{48000};
  // Transport-wide congestion control: what arrives, fed back at most every 100 ms.
  int twcc_ext_id_ = 0;
  TwccReceiver twcc_rx_;
  uint32_t twcc_media_ssrc_ = 0;
  int64_t last_twcc_feedback_us_ = 0;
  // Counters
  uint64_t audio_packets_ = 0, audio_bytes_ = 0;
  uint64_t frames_ = 0, keyframes_ = 0, video_bytes_ = 0, incomplete_frames_ = 0;
  uint64_t receiver_reports_sent_ = 0, twcc_feedback_sent_ = 0;
  double first_frame_ms_ = -1;
  double glass_to_glass_ms_ = -1, glass_to_glass_sum_ms_ = 0;
  uint64_t glass_to_glass_samples_ = 0;
};

}  // namespace kvs::rtc
