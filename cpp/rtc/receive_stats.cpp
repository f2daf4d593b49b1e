#include "receive_stats.h"

#include <algorithm>

namespace kvs::rtc {

void ReceiveStatistics::on_packet(uint16_t sequence, uint32_t rtp_timestamp, int64_t arrival_us) {
  ++received_;
  if (highest_seq_ < 0) {
    first_seq_ = highest_seq_ = sequence;
  } else {
    // Extend the 16-bit number to the candidate nearest the highest seen so far.
    int64_t ext = (highest_seq_ & ~int64_t{0xffff}) | sequence;
    if (ext < highest_seq_ - 0x8000) ext += 0x10000;
    else if (ext > highest_seq_ + 0x8000) ext -= 0x10000;
    highest_seq_ = std::max(highest_seq_, ext);
  }
  // A.8: transit = arrival (in RTP units) - timestamp; J += (|D| - J) / 16.
  int64_t arrival = arrival_us * clock_hz_ / 1000000;
  int64_t transit = arrival - static_cast<int64_t>(rtp_timestamp);
  if (have_transit_) {
    int64_t d = transit - last_transit_;
    // A wrapped RTP timestamp shows up as a jump of about 2^32: not jitter.
    if (d > -0x80000000LL && d < 0x80000000LL) jitter_ += (static_cast<double>(d < 0 ? -d : d) - jitter_) / 16.0;
  }
  last_transit_ = transit;
  have_transit_ = true;
}

void ReceiveStatistics::on_sender_report(uint64_t ntp, int64_t arrival_us) {
  last_sr_ = static_cast<uint32_t>(ntp >> 16);
  last_sr_arrival_us_ = arrival_us;
}

uint64_t ReceiveStatistics::lost() const {
  if (highest_seq_ < 0) return 0;
  int64_t lost = (highest_seq_ - first_seq_ + 1) - static_cast<int64_t>(received_);
  return lost > 0 ? static_cast<uint64_t>(lost) : 0;
}

ReportBlock ReceiveStatistics::report_block(uint32_t ssrc, int64_t now_us) {
  ReportBlock b;
  b.ssrc = ssrc;
  if (highest_seq_ < 0) return b;
  uint64_t expected = static_cast<uint64_t>(highest_seq_ - first_seq_ + 1);
  // A.3: the fraction lost since the last report, 0 when more arrived than expected.
  int64_t expected_interval = static_cast<int64_t>(expected - expected_prior_);
  int64_t lost_interval = expected_interval - static_cast<int64_t>(received_ - received_prior_);
  expected_prior_ = expected;
  received_prior_ = received_;
  b.fraction_lost = (expected_interval <= 0 || lost_interval <= 0) ? 0 : static_cast<uint8_t>((lost_interval << 8) / expected_interval);
  b.cumulative_lost = static_cast<int32_t>(std::min<uint64_t>(lost(), 0x7fffff));
  b.highest_sequence = static_cast<uint32_t>(highest_seq_);
  b.jitter = static_cast<uint32_t>(jitter_);
  if (last_sr_arrival_us_) {
    b.last_sr = last_sr_;
    // In units of 1/65536 s.
    b.delay_since_last_sr = static_cast<uint32_t>((now_us - last_sr_arrival_us_) * 65536 / 1000000);
  }
  return b;
}

}  // namespace kvs::rtc
