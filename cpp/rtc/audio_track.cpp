#include "audio_track.h"

#include <algorithm>

#include "network_thread.h"

namespace kvs::rtc {
namespace {
constexpr int kMaxInFlight = 16;  // 320 ms of audio queued for the network thread
}

std::shared_ptr<AudioTrack> AudioTrack::create(const media::AudioConfig& config, std::string* error) {
  std::shared_ptr<AudioTrack> track(new AudioTrack());
  track->config_ = config;
  std::weak_ptr<AudioTrack> weak = track;
  track->pipeline_ = media::AudioPipeline::create(
      config,
      [weak](media::EncodedAudioPtr f) {
        if (auto t = weak.lock()) t->on_encoded(std::move(f));
      },
      error);
  if (!track->pipeline_) return nullptr;
  return track;
}

AudioTrack::~AudioTrack() { close(); }

void AudioTrack::close() {
  if (closed_.exchange(true)) return;
  std::lock_guard<std::mutex> lock(mutex_);
  if (pipeline_) pipeline_->stop();  // absent when create() refused the config
}

void AudioTrack::warm_up() {
  if (started_.exchange(true)) return;
  std::lock_guard<std::mutex> lock(mutex_);
  if (!closed_) pipeline_->start();
}

void AudioTrack::subscribe(Subscriber* s, bool g711) {
  if (std::find(subscribers_.begin(), subscribers_.end(), s) == subscribers_.end()) subscribers_.push_back(s);
  if (g711 && std::find(g711_subscribers_.begin(), g711_subscribers_.end(), s) == g711_subscribers_.end())
    g711_subscribers_.push_back(s);
  subscriber_count_ = subscribers_.size();
  g711_count_ = g711_subscribers_.size();
  pipeline_->set_g711(g711_count_ > 0);
  warm_up();
}

void AudioTrack::unsubscribe(Subscriber* s) {
  subscribers_.erase(std::remove(subscribers_.begin(), subscribers_.end(), s), subscribers_.end());
  g711_subscribers_.erase(std::remove(g711_subscribers_.begin(), g711_subscribers_.end(), s), g711_subscribers_.end());
  subscriber_count_ = subscribers_.size();
  g711_count_ = g711_subscribers_.size();
  pipeline_->set_g711(g711_count_ > 0);
}

media::AudioPipelineStats AudioTrack::stats() const { return pipeline_->stats(); }

void AudioTrack::on_encoded(media::EncodedAudioPtr frame) {
  if (in_flight_.load() >= kMaxInFlight) {
    ++dropped_;
    return;
  }
  ++in_flight_;
  std::weak_ptr<AudioTrack> weak = weak_from_this();
  NetworkThread::instance().post([weak, frame] {
    auto t = weak.lock();
    if (!t) return;
    --t->in_flight_;
    auto subs = t->subscribers_;
    for (Subscriber* s : subs) s->on_audio_frame(frame);
  });
}

}  // namespace kvs::rtc
