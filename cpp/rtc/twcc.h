// Transport-wide congestion control (draft-holmer-rmcat-transport-wide-cc-extensions-01) for one
// peer. The sender side numbers every RTP packet it sends on the transport, remembers when it
// left and how big it was, and turns the peer's feedback into an estimate of what the path
// carries (acknowledged bitrate, loss, and a delay-gradient trend driving AIMD; see
// docs/engine.md "Rate control"). The receiver side records arrivals and builds the feedback.
// Network thread only; no I/O here, times are passed in.
#pragma once
#include <cstdint>
#include <deque>
#include <map>
#include <vector>

#include "rtcp.h"

namespace kvs::rtc {

class TwccSender {
 public:
  enum class Signal { kNormal, kOveruse, kUnderuse };

  explicit TwccSender(int start_kbps = 1000) : estimate_bps_(start_kbps * 1000.0) {}
  void reset(int start_kbps);

  // The sequence number for the next packet; on_sent records it once it is on the wire.
  uint16_t next_sequence() { return next_seq_++; }
  void on_sent(uint16_t seq, size_t bytes, int64_t now_us);
  // One feedback packet; updates the estimate. Packets never sent (or aged out) are skipped.
  void on_feedback(const TransportFeedback& fb, int64_t now_us);

  int estimate_kbps() const { return static_cast<int>(estimate_bps_ / 1000); }
  int acked_kbps() const { return static_cast<int>(acked_bps_ / 1000); }  // 0 until known
  double loss_fraction() const { return loss_fraction_; }                  // -1 until known
  Signal signal() const { return signal_; }
  double trend() const { return trend_; }  // modified trend (ms), compared with threshold()
  double threshold() const { return threshold_; }
  uint64_t feedback_count() const { return feedbacks_; }

 private:
  struct Sent {
    int64_t send_us = -1;
    uint32_t bytes = 0;
    uint16_t seq = 0;
    enum : uint8_t { kPending, kLost, kReceived } state = kPending;
  };
  static constexpr size_t kHistory = 8192;  // packets remembered for feedback (several seconds)
  void on_group(int64_t send_us, int64_t arrival_us, int64_t now_us);
  void update_rate(int64_t now_us);

  std::vector<Sent> history_ = std::vector<Sent>(kHistory);
  uint16_t next_seq_ = 1;
  double estimate_bps_;
  double acked_bps_ = 0;
  double loss_fraction_ = -1;
  Signal signal_ = Signal::kNormal;
  uint64_t feedbacks_ = 0;
  // Feedback's reference time, unwrapped (24 bits, 64 ms units).
  bool have_ref_ = false;
  int64_t last_ref_ = 0;
  // Acknowledged bytes by arrival time, over the last second of arrivals.
  std::deque<std::pair<int64_t, uint32_t>> acked_;
  uint64_t acked_bytes_ = 0;
  // Loss over the current interval.
  uint32_t lost_ = 0, received_ = 0;
  int64_t loss_interval_start_us_ = -1;
  // Delay gradient: packets sent within 5 ms form a group; the accumulated difference of
  // inter-arrival and inter-departure times of consecutive groups, smoothed, and its slope over
  // the last 20 groups (the trendline of RFC 8698's predecessor, draft-ietf-rmcat-gcc-02 5.3).
  int64_t group_first_send_ = -1, group_last_send_ = -1, group_last_arrival_ = -1;
  int64_t prev_group_send_ = -1, prev_group_arrival_ = -1;
  int64_t first_arrival_us_ = -1;
  double accumulated_ms_ = 0, smoothed_ms_ = 0;
  std::deque<std::pair<double, double>> trend_window_;  // (arrival ms, smoothed delay ms)
  uint32_t deltas_ = 0;
  double trend_ = 0, threshold_ = 12.5;
  int64_t last_threshold_update_us_ = -1;
  int64_t overuse_since_us_ = -1;
  int overuse_count_ = 0;
  double prev_trend_ = 0;
  // AIMD
  int64_t last_update_us_ = -1, last_decrease_us_ = -1;
};

const char* to_string(TwccSender::Signal s);

class TwccReceiver {
 public:
  void on_packet(uint16_t seq, int64_t arrival_us);
  // The next feedback packet for what arrived since the last one; false when nothing is new.
  // Late packets (already reported as lost) are not reported again.
  bool build_feedback(TransportFeedback* out);
  uint64_t packets() const { return packets_; }

 private:
  static constexpr size_t kMaxPerFeedback = 1000;
  bool started_ = false;
  int64_t last_seq_ = 0;          // unwrapped
  int64_t next_unreported_ = 0;   // unwrapped
  std::map<int64_t, int64_t> arrivals_;  // unwrapped seq -> arrival (us)
  uint8_t feedback_count_ = 0;
  uint64_t packets_ = 0;
};

}  // namespace kvs::rtc
