#include "video_track.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "clock.h"
#include "log.h"
#include "network_thread.h"

namespace kvs::rtc {

using media::monotonic_us;
namespace {

constexpr int kMaxInFlight = 8;             // frames queued for the network thread
constexpr size_t kHistoryPackets = 2048;    // NACK history (about 1-2 s at 2-4 Mbps)
constexpr int64_t kKeyframeMinIntervalUs = 200000;  // keyframe requests closer than this merge

}  // namespace

std::shared_ptr<VideoTrack> VideoTrack::create(const media::VideoConfig& config, std::string* error) {
  std::shared_ptr<VideoTrack> track(new VideoTrack());
  std::weak_ptr<VideoTrack> weak = track;
  track->pipeline_ = media::VideoPipeline::create(
      config,
      [weak](media::EncodedFramePtr frame) {
        if (auto t = weak.lock()) t->on_encoded(std::move(frame));
      },
      error);
  if (!track->pipeline_) return nullptr;
  track->passthrough_ = !track->pipeline_->keyframes_on_request();
  track->max_kbps_ = config.bitrate_kbps;
  track->target_kbps_ = config.bitrate_kbps;
  track->min_kbps_ = std::min(100, config.bitrate_kbps);
  return track;
}

VideoTrack::~VideoTrack() { close(); }

void VideoTrack::close() {
  if (closed_.exchange(true)) return;
  std::lock_guard<std::mutex> lock(pipeline_mutex_);
  if (pipeline_) pipeline_->stop();
}

void VideoTrack::subscribe(Subscriber* s) {
  if (std::find(subscribers_.begin(), subscribers_.end(), s) != subscribers_.end()) return;
  subscribers_.push_back(s);
  subscriber_count_ = subscribers_.size();
  warm_up();
}

void VideoTrack::warm_up() {
  if (started_.exchange(true)) return;
  std::lock_guard<std::mutex> lock(pipeline_mutex_);
  if (!closed_) pipeline_->start();
}

void VideoTrack::unsubscribe(Subscriber* s) {
  subscribers_.erase(std::remove(subscribers_.begin(), subscribers_.end(), s), subscribers_.end());
  subscriber_count_ = subscribers_.size();
  estimates_.erase(std::remove_if(estimates_.begin(), estimates_.end(), [s](auto& e) { return e.first == s; }),
                   estimates_.end());
  apply_target();
}

void VideoTrack::report_estimate(const Subscriber* s, int kbps) {
  auto it = std::find_if(estimates_.begin(), estimates_.end(), [s](auto& e) { return e.first == s; });
  if (it == estimates_.end()) estimates_.push_back({s, kbps});
  else it->second = kbps;
  apply_target();
}

void VideoTrack::apply_target() {
  int target = max_kbps_;
  for (auto& [sub, kbps] : estimates_) target = std::min(target, kbps);
  target = std::max(target, std::min<int>(min_kbps_, max_kbps_));
  int current = target_kbps_;
  // Small wobbles are not worth an encoder reconfiguration.
  if (target == current || (std::abs(target - current) * 20 < current && target != max_kbps_)) return;
  target_kbps_ = target;
  KVS_DEBUG("track", "target bitrate %d kbps", target);
  pipeline_->set_bitrate(target);
}

void VideoTrack::set_bitrate_bounds(int min_kbps, int max_kbps) {
  min_kbps_ = min_kbps;
  max_kbps_ = max_kbps;
  std::weak_ptr<VideoTrack> weak = weak_from_this();
  NetworkThread::instance().post([weak] {
    if (auto t = weak.lock()) t->apply_target();
  });
}

const RtpPayload* VideoTrack::find_packet(uint64_t index, uint32_t* rtp_timestamp) const {
  for (auto it = history_.rbegin(); it != history_.rend(); ++it) {
    const auto& f = *it;
    if (index >= f->first_packet && index < f->first_packet + f->payloads.size()) {
      *rtp_timestamp = f->rtp_timestamp;
      return &f->payloads[index - f->first_packet];
    }
    if (index > f->first_packet) break;
  }
  return nullptr;
}

void VideoTrack::request_keyframe(bool urgent) {
  if (!urgent && monotonic_us() - last_keyframe_us_.load() < kKeyframeMinIntervalUs) return;
  if (keyframe_pending_.exchange(true)) return;  // the IDR on its way serves this request too
  KVS_DEBUG("track", "keyframe requested%s", urgent ? " (urgent)" : "");
  pipeline_->request_keyframe();
}

void VideoTrack::set_bitrate(int kbps) {
  target_kbps_ = kbps;
  pipeline_->set_bitrate(kbps);
  set_bitrate_bounds(std::min<int>(min_kbps_, kbps), kbps);
}

VideoTrackStats VideoTrack::stats() const {
  VideoTrackStats s;
  s.pipeline = pipeline_->stats();
  s.frames_dropped = dropped_;
  s.subscribers = subscriber_count_;
  return s;
}

void VideoTrack::on_encoded(media::EncodedFramePtr frame) {
  KVS_DEBUG("track", "frame %llu%s %zu bytes", static_cast<unsigned long long>(frame->index),
            frame->keyframe ? " IDR" : "", frame->data.size());
  if (frame->keyframe) {
    keyframe_pending_ = false;
    last_keyframe_us_ = monotonic_us();
  }
  auto pf = std::make_shared<PacketizedFrame>();
  pf->payloads = packetizer_.packetize(frame->data.data(), frame->data.size());
  if (pf->payloads.empty()) return;
  pf->rtp_timestamp = frame->rtp_timestamp;
  pf->keyframe = frame->keyframe;
  pf->frame = std::move(frame);
  if (in_flight_.load() >= kMaxInFlight) {
    // The network thread lags: drop, count, and make the next frame decodable on its own.
    ++dropped_;
    request_keyframe(true);
    return;
  }
  pf->first_packet = next_packet_;
  next_packet_ += pf->payloads.size();
  ++in_flight_;
  std::weak_ptr<VideoTrack> weak = weak_from_this();
  PacketizedFramePtr shared = std::move(pf);
  NetworkThread::instance().post([weak, shared] {
    if (auto t = weak.lock()) {
      --t->in_flight_;
      t->deliver(shared);
    }
  });
}

std::vector<PacketizedFramePtr> VideoTrack::recent_gop() const { return gop_; }

void VideoTrack::deliver(const PacketizedFramePtr& frame) {
  if (frame->keyframe) {
    gop_.clear();
    gop_bytes_ = 0;
  }
  if (frame->keyframe || !gop_.empty()) {
    gop_bytes_ += frame->frame->data.size();
    bool fits = passthrough_ ? gop_bytes_ <= kMaxPassthroughBurstBytes : gop_.size() < kMaxBurstFrames;
    if (fits) gop_.push_back(frame);
    else gop_.clear();  // too long to burst: the next viewer waits for a fresh IDR
  }
  history_.push_back(frame);
  history_packets_ += frame->payloads.size();
  while (history_.size() > 1 && history_packets_ > kHistoryPackets) {
    history_packets_ -= history_.front()->payloads.size();
    history_.pop_front();
  }
  // Copy: a subscriber may unsubscribe itself from its callback.
  auto subs = subscribers_;
  for (Subscriber* s : subs) s->on_track_frame(frame);
}

}  // namespace kvs::rtc
