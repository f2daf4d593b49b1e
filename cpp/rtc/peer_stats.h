// What a peer connection reports about itself (getStats): a value copied out on the network
// thread, which owns the peer and every part that fills it in; the copy may go to any thread.
#pragma once
#include <cstdint>
#include <string>

namespace kvs::rtc {

enum class PeerState { kNew, kConnecting, kConnected, kDisconnected, kFailed, kClosed };
const char* to_string(PeerState s);

struct PeerStats {
  PeerState state = PeerState::kNew;
  std::string ice_state, dtls_state;
  std::string dtls_role;     // "client" | "server" once known
  std::string srtp_profile;  // negotiated DTLS-SRTP protection profile
  bool has_pair = false;
  std::string local_address, remote_address, local_type, remote_type;
  uint64_t packets_sent = 0, bytes_sent = 0, frames_sent = 0, keyframes_sent = 0;
  uint64_t packets_received = 0, bytes_received = 0;
  uint64_t pli_received = 0, fir_received = 0, nack_received = 0, retransmitted = 0;
  bool rtx = false;  // retransmissions go out as RTX
  uint64_t send_errors = 0;
  // Video packets that left in batched sends (sendmmsg / UDP GSO, docs/send-path.md), and those
  // system calls; both stay 0 on a relayed (TURN) or TCP pair, where libnice sends each packet.
  uint64_t send_batches = 0, packets_sent_batched = 0;
  uint64_t data_messages_sent = 0, data_messages_received = 0, data_bytes_sent = 0, data_bytes_received = 0;
  uint64_t audio_packets_sent = 0, audio_packets_received = 0, audio_bytes_received = 0;
  uint64_t audio_samples_written = 0;
  // The talk-back sink: payloads taken, bytes written to the file or command, packets dropped
  // while the playback command was down or not reading, and its restarts.
  uint64_t audio_sink_packets = 0, audio_sink_bytes = 0, audio_sink_dropped = 0, audio_sink_restarts = 0;
  // Viewer role
  uint64_t frames_received = 0, keyframes_received = 0, video_bytes_received = 0, incomplete_frames = 0;
  // Viewer role: video RTP packets received and lost (RFC 3550 A.3: expected from the extended
  // highest sequence number minus received; retransmissions can make it briefly negative -> 0).
  uint64_t video_packets_received = 0, video_packets_lost = 0;
  uint64_t receiver_reports_sent = 0;
  // Frames since the last IDR sent at once when this viewer connected (0: it waited for an IDR).
  uint64_t join_burst_frames = 0;
  double first_frame_received_ms = -1;
  // From the camera's capture-timestamp SEI: last value, and sum / count for the mean.
  double glass_to_glass_ms = -1, glass_to_glass_sum_ms = 0;
  uint64_t glass_to_glass_samples = 0;
  double rtt_ms = -1, fraction_lost = -1, jitter = -1;
  int estimated_kbps = -1;  // REMB, TWCC or loss-based estimate of this viewer's path
  std::string estimate_source;  // which one is in force: "remb" | "twcc" | "loss" ("" = none yet)
  // Transport-wide congestion control (twcc.h): negotiated, feedback counts, our estimate.
  bool transport_cc = false;
  uint64_t twcc_feedback_received = 0, twcc_feedback_errors = 0, twcc_feedback_sent = 0;
  int twcc_estimate_kbps = -1, twcc_acked_kbps = -1;
  double twcc_loss_fraction = -1;
  std::string twcc_delay_signal;  // "normal" | "overuse" | "underuse" once feedback arrived
  double ice_connected_ms = -1, dtls_connected_ms = -1, first_frame_ms = -1;
};

}  // namespace kvs::rtc
