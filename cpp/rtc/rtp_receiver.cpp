#include "rtp_receiver.h"

#include <algorithm>

#include "annexb.h"
#include "h264_sei.h"
#include "log.h"
#include "rtcp.h"

namespace kvs::rtc {

using media::monotonic_us;
namespace {

constexpr int64_t kTwccFeedbackIntervalUs = 100000;  // transport-cc feedback at most every 100 ms

// End of the RTP payload: before the padding the last byte counts (RFC 3550 5.1).
size_t payload_end(const uint8_t* packet, size_t size, size_t header_size) {
  if (!(packet[0] & 0x20) || size <= header_size) return size;
  return size - std::min<size_t>(packet[size - 1], size - header_size);
}

media::SinkCodec sink_codec(AudioCodec c) {
  return c == AudioCodec::kOpus ? media::SinkCodec::kOpus
         : c == AudioCodec::kPcmu ? media::SinkCodec::kPcmu
                                  : media::SinkCodec::kPcma;
}

}  // namespace

void RtpReceiver::expect_video(std::vector<int> payload_types) {
  video_pts_ = std::move(payload_types);
  depacketizer_ = std::make_unique<H264Depacketizer>([this](const AccessUnit& au) { on_access_unit(au); });
}

void RtpReceiver::configure_audio(int payload_type, AudioCodec codec, bool receive) {
  audio_pt_ = payload_type;
  audio_codec_ = codec;
  audio_receive_ = receive;
}

void RtpReceiver::start(DtlsSrtpTransport* transport, const media::AudioSinkConfig& sink) {
  transport_ = transport;
  if (!audio_receive_ || audio_sink_) return;
  std::string error;
  audio_sink_ = media::AudioSink::open(sink, sink_codec(audio_codec_), &error);
  if (!audio_sink_) KVS_ERROR(peer_.id, "talk-back: %s", error.c_str());
}

void RtpReceiver::close() {
  if (audio_sink_) audio_sink_->close();
}

void RtpReceiver::on_rtp(const uint8_t* packet, size_t size) {
  auto h = parse_rtp_header(packet, size);
  if (!h || h->header_size > size) return;
  if (twcc_ext_id_) note_transport_cc(packet, size, h->ssrc);
  if (depacketizer_ && std::find(video_pts_.begin(), video_pts_.end(), h->payload_type) != video_pts_.end())
    on_video(*h, packet, size);
  else if (static_cast<int>(h->payload_type) == audio_pt_ && audio_receive_)
    on_audio(*h, packet, size);
}

void RtpReceiver::on_video(const RtpHeader& h, const uint8_t* packet, size_t size) {
  remote_video_ssrc_ = h.ssrc;
  video_rx_.on_packet(h.sequence, h.timestamp, monotonic_us());
  size_t end = payload_end(packet, size, h.header_size);
  video_bytes_ += end - h.header_size;
  depacketizer_->push(h.sequence, h.timestamp, h.marker, packet + h.header_size, end - h.header_size);
  incomplete_frames_ = depacketizer_->incomplete();
  if (keyframes_ == 0 && monotonic_us() - last_pli_sent_us_ > 300000) {
    // Joined mid-GOP: ask for an IDR now rather than wait for the next one (RFC 4585 6.3.1).
    last_pli_sent_us_ = monotonic_us();
    uint8_t buf[12 + kSrtpMaxTrailer];
    transport_->send_rtcp(buf, write_pli(1, remote_video_ssrc_, buf));
  }
}

void RtpReceiver::on_audio(const RtpHeader& h, const uint8_t* packet, size_t size) {
  if (!audio_rx_.active()) audio_rx_ = ReceiveStatistics(clock_khz(audio_codec_) * 1000);
  remote_audio_ssrc_ = h.ssrc;
  audio_rx_.on_packet(h.sequence, h.timestamp, monotonic_us());
  ++audio_packets_;
  audio_bytes_ += size - h.header_size;
  // Padding (RFC 3550 5.1): the last byte says how many bytes to drop.
  size_t end = payload_end(packet, size, h.header_size);
  if (end <= h.header_size) return;
  if (audio_sink_) audio_sink_->push(packet + h.header_size, end - h.header_size, h.sequence);
}

void RtpReceiver::on_access_unit(const AccessUnit& au) {
  if (keyframes_ == 0 && !au.keyframe) return;  // undecodable before the first IDR
  if (au.keyframe) ++keyframes_;
  ++frames_;
  read_capture_timestamp(au);
  if (first_frame_ms_ < 0) {
    first_frame_ms_ = peer_.since_offer_ms();
    KVS_INFO(peer_.id, "first keyframe received %.1f ms after the offer", first_frame_ms_);
  }
}

// The camera's capture-timestamp SEI (kvs-edge video.captureTimestamps), if the access unit has
// one: wall clock now minus capture time is the glass-to-glass latency up to depacketization.
void RtpReceiver::read_capture_timestamp(const AccessUnit& au) {
  for (const media::NalUnit& n : media::split_annexb(au.annexb.data(), au.annexb.size())) {
    uint64_t captured_us = 0;
    if (n.type() != media::kNalSei || !media::find_timestamp_sei(n.data, n.size, &captured_us)) continue;
    const double ms = static_cast<double>(media::wall_clock_us() - static_cast<int64_t>(captured_us)) / 1000.0;
    glass_to_glass_ms_ = ms;
    glass_to_glass_sum_ms_ += ms;
    ++glass_to_glass_samples_;
    return;
  }
}

void RtpReceiver::on_sender_report(uint32_t ssrc, uint64_t ntp, int64_t now_us) {
  // Their sender report: our next receiver report tells them when we got it (their RTT).
  if (video_rx_.active() && ssrc == remote_video_ssrc_) video_rx_.on_sender_report(ntp, now_us);
  if (audio_rx_.active() && ssrc == remote_audio_ssrc_) audio_rx_.on_sender_report(ntp, now_us);
}

// What we receive (the camera's video in the viewer role, the viewer's talk-back in the camera
// role), once per report interval: the sender learns loss, jitter and RTT from it, and knows we
// are still there (RFC 3550 6.4.2).
void RtpReceiver::send_receiver_report(uint32_t sender_ssrc) {
  if (!transport_) return;
  int64_t now = monotonic_us();
  std::vector<ReportBlock> blocks;
  if (video_rx_.active()) blocks.push_back(video_rx_.report_block(remote_video_ssrc_, now));
  if (audio_rx_.active()) blocks.push_back(audio_rx_.report_block(remote_audio_ssrc_, now));
  if (blocks.empty()) return;
  uint8_t buf[8 + 24 * 2 + kSrtpMaxTrailer];
  if (transport_->send_rtcp(buf, write_receiver_report(sender_ssrc, blocks, buf))) ++receiver_reports_sent_;
}

void RtpReceiver::note_transport_cc(const uint8_t* packet, size_t size, uint32_t ssrc) {
  auto seq = read_transport_sequence(packet, size, twcc_ext_id_);
  if (!seq) return;
  int64_t now = monotonic_us();
  twcc_rx_.on_packet(*seq, now);
  twcc_media_ssrc_ = ssrc;
  if (now - last_twcc_feedback_us_ >= kTwccFeedbackIntervalUs) send_transport_feedback();
}

void RtpReceiver::send_transport_feedback() {
  if (!twcc_ext_id_ || !transport_) return;
  last_twcc_feedback_us_ = monotonic_us();
  TransportFeedback fb;
  std::vector<uint8_t> buf;
  // A backlog (a stalled loop) may take more than one packet; a few at most per call.
  for (int i = 0; i < 4 && twcc_rx_.build_feedback(&fb); ++i) {
    write_transport_feedback(1, twcc_media_ssrc_, fb, &buf);
    if (buf.size() > 1400) continue;  // cannot happen with kMaxPerFeedback packets of <= 2 bytes + chunks
    size_t len = buf.size();
    buf.resize(len + kSrtpMaxTrailer);
    if (transport_->send_rtcp(buf.data(), len)) ++twcc_feedback_sent_;
  }
}

void RtpReceiver::add_stats(PeerStats* s) const {
  s->audio_packets_received = audio_packets_;
  s->audio_bytes_received = audio_bytes_;
  s->frames_received = frames_;
  s->keyframes_received = keyframes_;
  s->video_bytes_received = video_bytes_;
  s->incomplete_frames = incomplete_frames_;
  s->video_packets_received = video_rx_.received();
  s->video_packets_lost = video_rx_.lost();
  s->receiver_reports_sent = receiver_reports_sent_;
  s->twcc_feedback_sent = twcc_feedback_sent_;
  s->first_frame_received_ms = first_frame_ms_;
  s->glass_to_glass_ms = glass_to_glass_ms_;
  s->glass_to_glass_sum_ms = glass_to_glass_sum_ms_;
  s->glass_to_glass_samples = glass_to_glass_samples_;
  if (audio_sink_) {
    auto a = audio_sink_->stats();
    s->audio_samples_written = a.samples;
    s->audio_sink_packets = a.packets;
    s->audio_sink_bytes = a.bytes_written;
    s->audio_sink_dropped = a.dropped;
    s->audio_sink_restarts = a.restarts;
  }
}

}  // namespace kvs::rtc
