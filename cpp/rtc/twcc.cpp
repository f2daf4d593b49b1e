#include "twcc.h"

#include <algorithm>
#include <cmath>

namespace kvs::rtc {
namespace {

constexpr int64_t kGroupUs = 5000;             // packets sent within 5 ms form one group
constexpr size_t kTrendWindow = 20;            // groups in the trendline regression
constexpr double kSmoothing = 0.9;             // exponential smoothing of the accumulated delay
constexpr double kTrendGain = 4.0;
constexpr int64_t kAckedWindowUs = 1000000;    // acknowledged bitrate over the last second
constexpr int64_t kLossIntervalUs = 500000;    // loss fraction over at least 0.5 s ...
constexpr uint32_t kLossMinPackets = 10;       // ... and 10 packets
constexpr int64_t kDecreaseIntervalUs = 300000;  // one decrease per 300 ms (about an RTT plus a frame)
constexpr double kMinBps = 30000, kMaxBps = 100e6;

}  // namespace

const char* to_string(TwccSender::Signal s) {
  switch (s) {
    case TwccSender::Signal::kNormal: return "normal";
    case TwccSender::Signal::kOveruse: return "overuse";
    case TwccSender::Signal::kUnderuse: return "underuse";
  }
  return "normal";
}

void TwccSender::reset(int start_kbps) { estimate_bps_ = start_kbps * 1000.0; }

void TwccSender::on_sent(uint16_t seq, size_t bytes, int64_t now_us) {
  Sent& s = history_[seq % kHistory];
  s.seq = seq;
  s.send_us = now_us;
  s.bytes = static_cast<uint32_t>(bytes);
  s.state = Sent::kPending;
}

void TwccSender::on_feedback(const TransportFeedback& fb, int64_t now_us) {
  ++feedbacks_;
  // The reference time is 24 bits of 64 ms: unwrap against the previous feedback.
  int64_t ref = fb.reference_time & 0xffffff;
  if (!have_ref_) {
    have_ref_ = true;
    last_ref_ = ref;
  } else {
    int64_t d = (ref - last_ref_) & 0xffffff;
    if (d >= 0x800000) d -= 0x1000000;
    last_ref_ += d;
  }
  if (loss_interval_start_us_ < 0) loss_interval_start_us_ = now_us;
  int64_t arrival = last_ref_ * kTransportReferenceUs;
  bool known = false;
  for (const auto& p : fb.packets) {
    if (p.received) arrival += p.delta * kTransportDeltaUs;
    Sent& s = history_[p.sequence % kHistory];
    // Never sent by us, overwritten, or from long ago: nothing to learn.
    if (s.send_us < 0 || s.seq != p.sequence || now_us - s.send_us > 10000000) continue;
    known = true;
    if (!p.received) {
      if (s.state == Sent::kPending) {
        s.state = Sent::kLost;
        ++lost_;
      }
      continue;
    }
    if (s.state == Sent::kReceived) continue;  // reported twice
    if (s.state == Sent::kLost && lost_ > 0) --lost_;  // reported lost before, arrived late
    s.state = Sent::kReceived;
    ++received_;
    acked_.push_back({arrival, s.bytes});
    acked_bytes_ += s.bytes;
    on_group(s.send_us, arrival, now_us);
  }
  // Acknowledged bitrate over the last second of arrivals.
  if (!acked_.empty()) {
    int64_t latest = acked_.back().first;
    while (!acked_.empty() && acked_.front().first < latest - kAckedWindowUs) {
      acked_bytes_ -= acked_.front().second;
      acked_.pop_front();
    }
    int64_t span = latest - (acked_.empty() ? latest : acked_.front().first);
    if (span >= 200000) acked_bps_ = static_cast<double>(acked_bytes_) * 8e6 / static_cast<double>(span);
  }
  if (known) update_rate(now_us);  // feedback about nothing we sent teaches nothing
}

void TwccSender::on_group(int64_t send_us, int64_t arrival_us, int64_t now_us) {
  (void)now_us;
  if (group_first_send_ < 0) {
    group_first_send_ = group_last_send_ = send_us;
    group_last_arrival_ = arrival_us;
    return;
  }
  if (send_us < group_first_send_) return;  // reordered into an earlier group: ignored
  if (send_us - group_first_send_ <= kGroupUs) {
    group_last_send_ = std::max(group_last_send_, send_us);
    group_last_arrival_ = std::max(group_last_arrival_, arrival_us);
    return;
  }
  // The group is complete: compare it with the one before.
  if (prev_group_send_ >= 0) {
    int64_t send_delta = group_last_send_ - prev_group_send_;
    int64_t arrival_delta = group_last_arrival_ - prev_group_arrival_;
    if (arrival_delta >= 0) {
      double d_ms = static_cast<double>(arrival_delta - send_delta) / 1000.0;
      if (first_arrival_us_ < 0) first_arrival_us_ = group_last_arrival_;
      ++deltas_;
      accumulated_ms_ += d_ms;
      smoothed_ms_ = kSmoothing * smoothed_ms_ + (1 - kSmoothing) * accumulated_ms_;
      double x = static_cast<double>(group_last_arrival_ - first_arrival_us_) / 1000.0;
      trend_window_.push_back({x, smoothed_ms_});
      if (trend_window_.size() > kTrendWindow) trend_window_.pop_front();
      if (trend_window_.size() == kTrendWindow) {
        // Least-squares slope of the smoothed delay over arrival time.
        double mx = 0, my = 0;
        for (auto& [px, py] : trend_window_) mx += px, my += py;
        mx /= kTrendWindow;
        my /= kTrendWindow;
        double num = 0, den = 0;
        for (auto& [px, py] : trend_window_) {
          num += (px - mx) * (py - my);
          den += (px - mx) * (px - mx);
        }
        double slope = den > 0 ? num / den : 0;
        trend_ = slope * std::min<uint32_t>(deltas_, 60) * kTrendGain;
        int64_t t = group_last_arrival_;
        if (trend_ > threshold_) {
          if (overuse_since_us_ < 0) {
            overuse_since_us_ = t;
            overuse_count_ = 0;
          }
          ++overuse_count_;
          // Overuse when it lasts over 10 ms and more than one group, and is not shrinking.
          if (t - overuse_since_us_ > 10000 && overuse_count_ > 1 && trend_ >= prev_trend_)
            signal_ = Signal::kOveruse;
        } else if (trend_ < -threshold_) {
          overuse_since_us_ = -1;
          signal_ = Signal::kUnderuse;
        } else {
          overuse_since_us_ = -1;
          signal_ = Signal::kNormal;
        }
        // Adaptive threshold: follows |trend| slowly upwards, faster downwards, so that a
        // jittery path (or a loaded machine) does not read as permanent overuse.
        double abs_trend = std::fabs(trend_);
        if (last_threshold_update_us_ < 0) last_threshold_update_us_ = t;
        if (abs_trend - threshold_ <= 15.0) {
          double k = abs_trend < threshold_ ? 0.039 : 0.0087;
          double dt_ms = std::min<double>(static_cast<double>(t - last_threshold_update_us_) / 1000.0, 100.0);
          threshold_ = std::clamp(threshold_ + k * (abs_trend - threshold_) * dt_ms, 6.0, 600.0);
        }
        last_threshold_update_us_ = t;
        prev_trend_ = trend_;
      }
    }
  }
  prev_group_send_ = group_last_send_;
  prev_group_arrival_ = group_last_arrival_;
  group_first_send_ = group_last_send_ = send_us;
  group_last_arrival_ = arrival_us;
}

void TwccSender::update_rate(int64_t now_us) {
  bool fresh_loss = false;
  if (now_us - loss_interval_start_us_ >= kLossIntervalUs && lost_ + received_ >= kLossMinPackets) {
    loss_fraction_ = static_cast<double>(lost_) / (lost_ + received_);
    lost_ = received_ = 0;
    loss_interval_start_us_ = now_us;
    fresh_loss = true;
  }
  double dt = last_update_us_ < 0 ? 0 : std::min<double>(static_cast<double>(now_us - last_update_us_), 1e6) / 1e6;
  last_update_us_ = now_us;
  bool may_decrease = last_decrease_us_ < 0 || now_us - last_decrease_us_ >= kDecreaseIntervalUs;
  if (loss_fraction_ > 0.10) {
    // Loss-based decrease, as for receiver reports: the more lost, the harder.
    if (fresh_loss && may_decrease) {
      estimate_bps_ *= 1.0 - 0.5 * loss_fraction_;
      last_decrease_us_ = now_us;
    }
  } else if (signal_ == Signal::kOveruse) {
    // Queues grow: back off below what actually arrived. An encoder that sends far less than
    // its target (a still scene) halves the estimate at most, so one overuse does not pin it
    // to what a still scene needed.
    if (may_decrease) {
      double base = acked_bps_ > 0 ? std::min(std::max(acked_bps_, 0.5 * estimate_bps_), estimate_bps_) : estimate_bps_;
      estimate_bps_ = 0.85 * base;
      last_decrease_us_ = now_us;
    }
  } else if (signal_ == Signal::kNormal && loss_fraction_ < 0.02) {
    // Multiplicative increase, 8 % per second, never far beyond what is acknowledged (a
    // sender that does not fill its estimate learns nothing about the path above it).
    double grown = estimate_bps_ * (1.0 + 0.08 * dt);
    if (acked_bps_ > 0) grown = std::min(grown, std::max(estimate_bps_, 1.5 * acked_bps_ + 50000));
    estimate_bps_ = grown;
  }
  // Underuse (queues draining) and 2-10 % loss: hold.
  estimate_bps_ = std::clamp(estimate_bps_, kMinBps, kMaxBps);
}

void TwccReceiver::on_packet(uint16_t seq, int64_t arrival_us) {
  ++packets_;
  int64_t s;
  if (!started_) {
    started_ = true;
    s = seq;
    last_seq_ = s;
    next_unreported_ = s;
  } else {
    s = last_seq_ + static_cast<int16_t>(static_cast<uint16_t>(seq - static_cast<uint16_t>(last_seq_)));
    if (s > last_seq_) last_seq_ = s;
  }
  if (s < next_unreported_) return;  // already reported (as lost): too late
  if (s - next_unreported_ > 30000) {  // a jump (the sender restarted): start over from here
    arrivals_.clear();
    next_unreported_ = s;
  }
  arrivals_.emplace(s, arrival_us);  // a duplicate keeps its first arrival
}

bool TwccReceiver::build_feedback(TransportFeedback* out) {
  if (arrivals_.empty()) return false;
  out->packets.clear();
  out->base_sequence = static_cast<uint16_t>(next_unreported_);
  int64_t first_arrival = arrivals_.begin()->second;
  int64_t ref = first_arrival >= 0 ? first_arrival / kTransportReferenceUs
                                   : -((-first_arrival + kTransportReferenceUs - 1) / kTransportReferenceUs);
  out->reference_time = static_cast<int32_t>(ref & 0xffffff);
  out->feedback_count = feedback_count_++;
  int64_t prev = ref * kTransportReferenceUs;
  int64_t last = arrivals_.rbegin()->first;
  for (int64_t s = next_unreported_; s <= last && out->packets.size() < kMaxPerFeedback; ++s) {
    TransportFeedback::Packet p;
    p.sequence = static_cast<uint16_t>(s);
    auto it = arrivals_.find(s);
    if (it != arrivals_.end()) {
      int64_t diff = it->second - prev;
      int64_t ticks = diff >= 0 ? diff / kTransportDeltaUs : -((-diff + kTransportDeltaUs - 1) / kTransportDeltaUs);
      if (ticks < INT16_MIN || ticks > INT16_MAX) break;  // not representable: the next feedback starts here
      p.received = true;
      p.delta = static_cast<int32_t>(ticks);
      prev += ticks * kTransportDeltaUs;
    }
    out->packets.push_back(p);
  }
  int64_t end = next_unreported_ + static_cast<int64_t>(out->packets.size());
  arrivals_.erase(arrivals_.begin(), arrivals_.lower_bound(end));
  next_unreported_ = end;
  return !out->packets.empty();
}

}  // namespace kvs::rtc
