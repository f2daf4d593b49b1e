#include "audio_sender.h"

#include "rtcp.h"

namespace kvs::rtc {

using media::monotonic_us;

AudioSender::AudioSender(const PeerContext& peer, BandwidthEstimator* estimator)
    : peer_(peer),
      estimator_(estimator),
      ssrc_(random_value<uint32_t>() & ~1u),
      seq_(random_value<uint16_t>() & 0x7fff),
      ts_offset_(random_value<uint32_t>()) {}

void AudioSender::configure(int payload_type, AudioCodec codec, bool send) {
  pt_ = payload_type;
  codec_ = codec;
  send_ = send;
}

void AudioSender::start(DtlsSrtpTransport* transport) {
  transport_ = transport;
  if (!track_ || !send_ || subscribed_) return;
  subscribed_ = true;
  track_->subscribe(this, codec_ != AudioCodec::kOpus);  // G.711 is encoded only for such peers
}

void AudioSender::stop() {
  if (subscribed_ && track_) track_->unsubscribe(this);
  subscribed_ = false;
}

void AudioSender::on_audio_frame(const media::EncodedAudioPtr& frame) {
  if (peer_.state != PeerState::kConnected || !send_ || pt_ < 0 || frame->data.size() > 1400) return;
  const std::vector<uint8_t>& payload = codec_ == AudioCodec::kOpus   ? frame->data
                                        : codec_ == AudioCodec::kPcmu ? frame->pcmu
                                                                      : frame->pcma;
  if (payload.empty()) return;  // encoded before this G.711 peer subscribed
  // Opus runs a 48 kHz RTP clock, G.711 8 kHz (RFC 3551 4.5.14).
  uint32_t ts = codec_ == AudioCodec::kOpus ? frame->rtp_timestamp : frame->rtp_timestamp / 6;
  uint8_t buf[kRtpMaxHeaderSize + 1500 + kSrtpMaxTrailer];
  RtpHeader h;
  h.marker = !started_;  // RFC 7587 4.1: first packet of a talkspurt
  started_ = true;
  h.payload_type = static_cast<uint8_t>(pt_);
  h.sequence = seq_++;
  h.timestamp = ts + ts_offset_;
  h.ssrc = ssrc_;
  estimator_->stamp(&h);
  size_t header_size = write_rtp_header(h, buf);
  std::copy(payload.begin(), payload.end(), buf + header_size);
  size_t len = header_size + payload.size();
  last_ts_ = h.timestamp;
  last_time_us_ = monotonic_us();
  bool protected_ok = transport_->protect_rtp(buf, &len);
  if (protected_ok) estimator_->on_sent(h, len);  // as for video: a refused send is a loss
  if (!protected_ok || !transport_->send(buf, len)) {
    ++send_errors_;
    return;
  }
  ++packets_sent_;
  octets_ += payload.size();
}

void AudioSender::send_sender_report() {
  if (!started_) return;
  uint8_t buf[64 + kSrtpMaxTrailer];
  uint32_t ts = last_ts_ + static_cast<uint32_t>((monotonic_us() - last_time_us_) * clock_khz(codec_) / 1000);
  size_t len = write_sender_report(ssrc_, ntp_now(), ts, static_cast<uint32_t>(packets_sent_),
                                   static_cast<uint32_t>(octets_), buf);
  transport_->send_rtcp(buf, len);
}

void AudioSender::add_stats(PeerStats* s) const {
  s->audio_packets_sent = packets_sent_;
  s->send_errors += send_errors_;
}

}  // namespace kvs::rtc
