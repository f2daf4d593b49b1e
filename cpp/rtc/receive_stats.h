// What we receive of one remote RTP stream, kept as RFC 3550 asks of a receiver: extended
// highest sequence number, cumulative and interval loss (A.3), interarrival jitter (A.8), and
// the last sender report's time, so a receiver report can give the sender its RTT.
#pragma once

#include <cstdint>

#include "rtcp.h"

namespace kvs::rtc {

class ReceiveStatistics {
 public:
  explicit ReceiveStatistics(int clock_hz) : clock_hz_(clock_hz) {}

  // A packet arrived (after SRTP): its sequence number and RTP timestamp, and when.
  void on_packet(uint16_t sequence, uint32_t rtp_timestamp, int64_t arrival_us);
  // The stream's sender report arrived: its NTP time, and when.
  void on_sender_report(uint64_t ntp, int64_t arrival_us);

  bool active() const { return received_ > 0; }
  uint64_t received() const { return received_; }
  // Expected (from the sequence numbers) minus received; duplicates can make it briefly
  // negative, reported as 0.
  uint64_t lost() const;
  // The report block for `ssrc` as of now; starts a new interval for fraction_lost.
  ReportBlock report_block(uint32_t ssrc, int64_t now_us);

 private:
  int clock_hz_;
  uint64_t received_ = 0;
  int64_t first_seq_ = -1, highest_seq_ = -1;  // extended
  uint64_t expected_prior_ = 0, received_prior_ = 0;
  double jitter_ = 0;  // in RTP timestamp units
  bool have_transit_ = false;
  int64_t last_transit_ = 0;
  uint32_t last_sr_ = 0;  // middle 32 bits of the last SR's NTP time
  int64_t last_sr_arrival_us_ = 0;
};

}  // namespace kvs::rtc
