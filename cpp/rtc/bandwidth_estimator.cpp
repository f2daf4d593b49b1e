#include "bandwidth_estimator.h"

#include <algorithm>

#include "clock.h"

namespace kvs::rtc {

void BandwidthEstimator::on_sent(const RtpHeader& h, size_t bytes) {
  if (h.transport_cc_id) twcc_.on_sent(h.transport_sequence, bytes, media::monotonic_us());
}

int BandwidthEstimator::on_report_block(const ReportBlock& b, bool sending, int start_kbps) {
  fraction_lost_ = b.fraction_lost / 256.0;
  int kbps = -1;
  if (!remb_seen_ && twcc_.feedback_count() == 0 && sending) {
    // Loss-based estimate when the viewer sends no REMB: back off under loss above 10 %, grow
    // slowly below 2 %.
    if (loss_kbps_ <= 0) loss_kbps_ = start_kbps;
    if (fraction_lost_ > 0.10) loss_kbps_ = static_cast<int>(loss_kbps_ * (1.0 - 0.5 * fraction_lost_));
    else if (fraction_lost_ < 0.02) loss_kbps_ = static_cast<int>(loss_kbps_ * 1.05) + 1;
    loss_kbps_ = std::clamp(loss_kbps_, 30, 1000000);
    kbps = update();
  }
  jitter_ms_ = b.jitter / 90.0;  // ms at 90 kHz
  if (b.last_sr) {
    // RFC 3550 6.4.1: RTT = A - LSR - DLSR in 1/65536 s units (middle 32 bits of NTP).
    uint32_t a = static_cast<uint32_t>(ntp_now() >> 16);
    uint32_t rtt = a - b.last_sr - b.delay_since_last_sr;
    if (rtt < 65536u * 10) rtt_ms_ = rtt * 1000.0 / 65536.0;
  }
  return kbps;
}

int BandwidthEstimator::on_remb(uint64_t bitrate_bps) {
  if (bitrate_bps == 0) return -1;
  remb_seen_ = true;
  remb_kbps_ = static_cast<int>(std::min<uint64_t>(bitrate_bps / 1000, 1000000));
  return update();
}

int BandwidthEstimator::on_transport_feedback(const TransportFeedback& fb, int64_t now_us) {
  ++feedback_received_;
  if (!ext_id_) return -1;  // not negotiated: not ours to act on
  twcc_.on_feedback(fb, now_us);
  return update();
}

int BandwidthEstimator::update() {
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
  if (kbps < 0 && loss_kbps_ > 0) {
    kbps = loss_kbps_;
    source = "loss";
  }
  if (kbps < 0) return -1;
  estimated_kbps_ = kbps;
  source_ = source;
  return kbps;
}

void BandwidthEstimator::add_stats(PeerStats* s) const {
  s->fraction_lost = fraction_lost_;
  s->jitter = jitter_ms_;
  s->rtt_ms = rtt_ms_;
  s->estimated_kbps = estimated_kbps_;
  s->estimate_source = source_;
  s->transport_cc = ext_id_ != 0;
  s->twcc_feedback_received = feedback_received_;
  s->twcc_feedback_errors = feedback_errors_;
  if (twcc_.feedback_count() > 0) {
    s->twcc_estimate_kbps = twcc_.estimate_kbps();
    if (twcc_.acked_kbps() > 0) s->twcc_acked_kbps = twcc_.acked_kbps();
    s->twcc_loss_fraction = twcc_.loss_fraction();
    s->twcc_delay_signal = to_string(twcc_.signal());
  }
}

}  // namespace kvs::rtc
