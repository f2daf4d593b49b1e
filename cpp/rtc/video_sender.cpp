#include "video_sender.h"

#include "log.h"
#include "rtcp.h"

namespace kvs::rtc {

using media::monotonic_us;
namespace {
constexpr int64_t kPeerKeyframeIntervalUs = 300000;  // PLI/FIR from one viewer: at most ~3/s
}

VideoSender::VideoSender(const PeerContext& peer, BandwidthEstimator* estimator)
    : peer_(peer),
      estimator_(estimator),
      ssrc_(random_value<uint32_t>() | 1),
      rtx_ssrc_(random_value<uint32_t>() | 1),
      rtx_seq_(random_value<uint16_t>() & 0x7fff),
      seq_base_(random_value<uint16_t>() & 0x7fff),  // room before the first wrap
      ts_offset_(random_value<uint32_t>()) {}

void VideoSender::configure(int payload_type, bool nack, int rtx_payload_type) {
  pt_ = payload_type;
  nack_ = nack;
  rtx_pt_ = rtx_payload_type;
}

bool VideoSender::start(DtlsSrtpTransport* transport) {
  transport_ = transport;
  if (!track_ || subscribed_) return false;
  subscribed_ = true;
  track_->subscribe(this);
  auto gop = track_->recent_gop();
  if (!gop.empty()) {
    for (const auto& f : gop) on_track_frame(f);  // a picture now, not at the next IDR
    join_burst_frames_ = gop.size();
    return false;
  }
  track_->request_keyframe(true);  // the new viewer gets an IDR now, not at the next GOP
  return true;
}

void VideoSender::stop() {
  if (subscribed_ && track_) track_->unsubscribe(this);
  subscribed_ = false;
}

size_t VideoSender::build_packet(const RtpPayload& payload, uint16_t seq, uint32_t ts, bool retransmission,
                                 uint8_t* buf) {
  if (payload.data.size() > 1500) return 0;
  RtpHeader h;
  h.marker = payload.marker;
  h.payload_type = static_cast<uint8_t>(pt_);
  h.sequence = seq;
  h.timestamp = ts;
  h.ssrc = ssrc_;
  estimator_->stamp(&h);
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
  if (!transport_->protect_rtp(buf, &len)) {
    ++send_errors_;
    return 0;
  }
  // Numbered, so recorded even when the socket refuses it: lost to the viewer all the same.
  estimator_->on_sent(h, len);
  return len;
}

void VideoSender::count_sent(bool sent, size_t len) {
  if (!sent) {
    ++send_errors_;  // a slow or gone viewer: dropped and counted, never waited for
    return;
  }
  ++packets_sent_;
  bytes_sent_ += len;
}

void VideoSender::on_track_frame(const PacketizedFramePtr& frame) {
  if (peer_.state != PeerState::kConnected || pt_ < 0) return;
  if (!started_) {
    if (!frame->keyframe) return;  // a keyframe was requested when this peer joined
    started_ = true;
    first_packet_ = frame->first_packet;
    first_frame_ms_ = peer_.since_offer_ms();
    KVS_INFO(peer_.id, "first keyframe sent %.1f ms after the offer", first_frame_ms_);
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
    if (size_t len = build_packet(frame->payloads[i], seq, ts, false, slot)) batch.push_back({slot, len, false});
  }
  transport_->send_batch(batch.data(), batch.size());
  for (const Datagram& d : batch) count_sent(d.sent, d.size);
  ++frames_sent_;
  if (frame->keyframe) ++keyframes_sent_;
  last_rtp_ts_ = ts;
  last_rtp_time_us_ = monotonic_us();
}

bool VideoSender::on_keyframe_request() {
  int64_t now = monotonic_us();
  if (now - last_keyframe_request_us_ < kPeerKeyframeIntervalUs || !track_) return false;
  last_keyframe_request_us_ = now;
  track_->request_keyframe();
  return true;
}

void VideoSender::on_nack(const std::vector<uint16_t>& sequences) {
  if (!track_ || !started_ || !nack_) return;
  for (uint16_t seq : sequences) {
    uint64_t index = first_packet_ + static_cast<uint16_t>(seq - seq_base_);
    uint32_t ts = 0;
    const RtpPayload* payload = track_->find_packet(index, &ts);
    if (!payload) continue;
    uint8_t buf[kPacketSlot];
    size_t len = build_packet(*payload, seq, ts + ts_offset_, true, buf);
    if (!len) continue;
    bool sent = transport_->send(buf, len);
    count_sent(sent, len);
    if (sent) ++retransmitted_;
  }
}

void VideoSender::send_sender_report() {
  if (!started_) return;
  uint8_t buf[64 + kSrtpMaxTrailer];
  uint32_t ts = last_rtp_ts_ + static_cast<uint32_t>((monotonic_us() - last_rtp_time_us_) * 90 / 1000);
  size_t len = write_sender_report(ssrc_, ntp_now(), ts, static_cast<uint32_t>(packets_sent_),
                                   static_cast<uint32_t>(bytes_sent_), buf);
  transport_->send_rtcp(buf, len);
}

void VideoSender::report_estimate(int kbps) {
  if (track_ && subscribed_) track_->report_estimate(this, kbps);
}

void VideoSender::add_stats(PeerStats* s) const {
  s->packets_sent = packets_sent_;
  s->bytes_sent = bytes_sent_;
  s->frames_sent = frames_sent_;
  s->keyframes_sent = keyframes_sent_;
  s->retransmitted = retransmitted_;
  s->send_errors += send_errors_;
  s->join_burst_frames = join_burst_frames_;
  s->first_frame_ms = first_frame_ms_;
  s->rtx = rtx_pt_ >= 0;
}

}  // namespace kvs::rtc
