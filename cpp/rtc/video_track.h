// A video track: one encoder pipeline, packetized once (RFC 6184) into a shared history, fanned
// out to any number of peers. Frames are produced on the media thread and delivered to
// subscribers on the network thread through a bounded hand-over (drops are counted).
#pragma once
#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "h264_packetizer.h"
#include "video_pipeline.h"

namespace kvs::rtc {

struct PacketizedFrame {
  media::EncodedFramePtr frame;
  std::vector<RtpPayload> payloads;
  uint64_t first_packet = 0;  // track-wide index of payloads[0]
  uint32_t rtp_timestamp = 0;
  bool keyframe = false;
};
using PacketizedFramePtr = std::shared_ptr<const PacketizedFrame>;

struct VideoTrackStats {
  media::VideoPipelineStats pipeline;
  uint64_t frames_dropped = 0;  // not handed to the network thread because it lagged
  size_t subscribers = 0;
};

class VideoTrack : public std::enable_shared_from_this<VideoTrack> {
 public:
  // Called on the network thread.
  class Subscriber {
   public:
    virtual ~Subscriber() = default;
    virtual void on_track_frame(const PacketizedFramePtr& frame) = 0;
  };

  // Creates the pipeline (not yet started). nullptr + *error when the config is refused.
  static std::shared_ptr<VideoTrack> create(const media::VideoConfig& config, std::string* error);
  ~VideoTrack();

  // Starts the encoder before anyone subscribes, so that a viewer still connecting gets an IDR
  // within one frame interval of its DTLS handshake. Idempotent; thread-safe.
  void warm_up();

  // Network thread only.
  void subscribe(Subscriber* s);
  void unsubscribe(Subscriber* s);
  // The payload with a track-wide index from the history, or nullptr when it has aged out.
  const RtpPayload* find_packet(uint64_t index, uint32_t* rtp_timestamp) const;
  // The frames since the last IDR (IDR first) when they are few enough to burst: what a viewer
  // that just connected can be sent at once to show a picture without waiting for the next IDR.
  // Empty otherwise. An encoder makes a fresh IDR on request, so the burst is kept short
  // (kMaxBurstFrames); a passthrough source (a file, a command's H.264) cannot, so the whole GOP
  // is kept, up to kMaxPassthroughBurstBytes, rather than make the viewer wait for the next IDR.
  std::vector<PacketizedFramePtr> recent_gop() const;
  static constexpr size_t kMaxBurstFrames = 8;
  static constexpr size_t kMaxPassthroughBurstBytes = 2 * 1024 * 1024;

  // Rate control (network thread): each viewer reports what its path carries (REMB, or a
  // loss-based estimate from its receiver reports); the shared encoder follows the weakest
  // viewer, within [min, max] kbps. A viewer that leaves no longer counts.
  void report_estimate(const Subscriber* s, int kbps);
  int target_kbps() const { return target_kbps_; }

  // Thread-safe.
  // The bounds of rate control; setBitrate from the user sets the ceiling and the target.
  void set_bitrate_bounds(int min_kbps, int max_kbps);
  // Merges with a request still pending. Unless urgent (a viewer joining), a request closer
  // than kKeyframeMinInterval to the last IDR is dropped, so a storm of PLIs cannot pin the
  // encoder at keyframes.
  void request_keyframe(bool urgent = false);
  void set_bitrate(int kbps);
  VideoTrackStats stats() const;
  const media::VideoConfig& config() const { return pipeline_->config(); }
  void close();  // stops the pipeline; idempotent

 private:
  VideoTrack() = default;
  void on_encoded(media::EncodedFramePtr frame);  // media thread
  void deliver(const PacketizedFramePtr& frame);   // network thread

  std::unique_ptr<media::VideoPipeline> pipeline_;
  H264Packetizer packetizer_;  // media thread only
  uint64_t next_packet_ = 0;   // media thread only
  std::atomic<int> in_flight_{0};
  std::atomic<uint64_t> dropped_{0};
  std::atomic<bool> closed_{false};
  std::atomic<bool> started_{false};
  std::atomic<bool> keyframe_pending_{false};
  std::atomic<int64_t> last_keyframe_us_{0};
  // Network thread only.
  std::vector<Subscriber*> subscribers_;
  std::deque<PacketizedFramePtr> history_;
  std::vector<PacketizedFramePtr> gop_;  // since the last IDR, while short enough to burst
  size_t gop_bytes_ = 0;
  bool passthrough_ = false;  // the pipeline cannot make an IDR on request (its source gives H.264)
  std::vector<std::pair<const Subscriber*, int>> estimates_;
  void apply_target();
  std::atomic<int> min_kbps_{100}, max_kbps_{0}, target_kbps_{0};
  size_t history_packets_ = 0;
  std::atomic<size_t> subscriber_count_{0};
  mutable std::mutex pipeline_mutex_;
};

}  // namespace kvs::rtc
