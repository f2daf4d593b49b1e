// Sends a shared VideoTrack to one viewer: its own SSRC, sequence and timestamp offsets; at
// join, the frames since the last IDR at once; each frame written, SRTP-protected and handed to
// ICE as one batch (docs/send-path.md); NACKed packets again (RFC 4585 6.2.1), as RTX (RFC 4588)
// when negotiated; and its sender reports (RFC 3550 6.4.1). Network thread only: the track calls
// it there, and the peer that owns it.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "bandwidth_estimator.h"
#include "dtls_srtp_transport.h"
#include "peer_context.h"
#include "video_track.h"

namespace kvs::rtc {

class VideoSender : public VideoTrack::Subscriber {
 public:
  VideoSender(const PeerContext& peer, BandwidthEstimator* estimator);
  ~VideoSender() override { stop(); }

  void set_track(std::shared_ptr<VideoTrack> track) { track_ = std::move(track); }
  const std::shared_ptr<VideoTrack>& track() const { return track_; }
  uint32_t ssrc() const { return ssrc_; }
  uint32_t rtx_ssrc() const { return rtx_ssrc_; }
  // What the answer settled (jsep.h).
  void configure(int payload_type, bool nack, int rtx_payload_type);

  // SRTP is keyed: subscribes to the track and sends the frames since its last IDR at once.
  // true when there were none and an IDR was requested for this viewer instead.
  bool start(DtlsSrtpTransport* transport);
  void stop();  // unsubscribes; idempotent
  bool subscribed() const { return subscribed_; }

  void on_track_frame(const PacketizedFramePtr& frame) override;
  // A PLI or FIR: passed to the track unless this viewer asked less than 300 ms ago. true when
  // passed on.
  bool on_keyframe_request();
  void on_nack(const std::vector<uint16_t>& sequences);
  void send_sender_report();
  // The estimate in force for this viewer's path, to the track's rate control.
  void report_estimate(int kbps);

  void add_stats(PeerStats* s) const;

 private:
  // One packet written and SRTP-protected into buf (kPacketSlot bytes): its length, or 0 when
  // it cannot go (a refused protect is counted as a send error).
  size_t build_packet(const RtpPayload& payload, uint16_t seq, uint32_t ts, bool retransmission, uint8_t* buf);
  void count_sent(bool sent, size_t len);  // a packet that left (or was refused)
  static constexpr size_t kPacketSlot = kRtpMaxHeaderSize + 2 + 1500 + kSrtpMaxTrailer;

  const PeerContext& peer_;
  BandwidthEstimator* estimator_;
  DtlsSrtpTransport* transport_ = nullptr;
  std::shared_ptr<VideoTrack> track_;
  bool subscribed_ = false;
  int pt_ = -1;
  bool nack_ = false;
  int rtx_pt_ = -1;
  uint32_t ssrc_, rtx_ssrc_;
  uint16_t rtx_seq_, seq_base_;
  uint32_t ts_offset_;
  bool started_ = false;       // the first keyframe was sent
  uint64_t first_packet_ = 0;  // track index sent as seq_base_
  uint32_t last_rtp_ts_ = 0;
  int64_t last_rtp_time_us_ = 0;
  int64_t last_keyframe_request_us_ = 0;
  uint64_t packets_sent_ = 0, bytes_sent_ = 0, frames_sent_ = 0, keyframes_sent_ = 0;
  uint64_t retransmitted_ = 0, send_errors_ = 0, join_burst_frames_ = 0;
  double first_frame_ms_ = -1;
};

}  // namespace kvs::rtc
