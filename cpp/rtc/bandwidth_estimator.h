// What one viewer's path carries, from what the viewer reports about our video: its own
// estimate (REMB, draft-alvestrand-rmcat-remb), transport-wide feedback (twcc.h, which also
// numbers every RTP packet we send on the transport), and, when it sends neither, a loss-based
// controller on its receiver reports (the shape of RFC 8836's loss-based controllers). The
// estimate in force is the lower of REMB and TWCC, else the loss-based one. Network thread only.
#pragma once
#include <cstddef>
#include <cstdint>

#include "peer_stats.h"
#include "rtcp.h"
#include "rtp.h"
#include "twcc.h"

namespace kvs::rtc {

class BandwidthEstimator {
 public:
  // The transport-cc header extension id of the negotiation in force; 0 = not negotiated.
  void set_transport_cc(int ext_id) { ext_id_ = ext_id; }
  int transport_cc_id() const { return ext_id_; }
  // Starts the TWCC estimate where the encoder starts.
  void reset(int start_kbps) { twcc_.reset(start_kbps); }

  // The send path: numbers a packet we are about to send, and records it once it is protected
  // (a packet the socket refuses then is lost to the viewer all the same).
  void stamp(RtpHeader* h) {
    h->transport_cc_id = ext_id_;
    if (ext_id_) h->transport_sequence = twcc_.next_sequence();
  }
  void on_sent(const RtpHeader& h, size_t bytes);

  // What the viewer reports. Each returns the estimate in force (kbps) when the report bears on
  // it, else -1. The loss-based controller runs only while our video goes out (`sending`),
  // starting from the encoder's bitrate.
  int on_report_block(const ReportBlock& b, bool sending, int start_kbps);
  int on_remb(uint64_t bitrate_bps);
  int on_transport_feedback(const TransportFeedback& fb, int64_t now_us);
  void on_malformed() { ++feedback_errors_; }

  void add_stats(PeerStats* s) const;

 private:
  int update();  // the estimate in force after a change; -1 when there is none yet

  int ext_id_ = 0;
  TwccSender twcc_;
  bool remb_seen_ = false;
  int remb_kbps_ = -1;
  int loss_kbps_ = 0;  // loss-based, from receiver reports
  int estimated_kbps_ = -1;
  const char* source_ = "";
  double fraction_lost_ = -1, jitter_ms_ = -1, rtt_ms_ = -1;
  uint64_t feedback_received_ = 0, feedback_errors_ = 0;
};

}  // namespace kvs::rtc
