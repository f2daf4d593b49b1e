// An audio track: one audio pipeline fanned out to any number of peers. Frames are produced on
// the media thread and delivered on the network thread (bounded hand-over, drops counted).
#pragma once
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "audio_pipeline.h"

namespace kvs::rtc {

class AudioTrack : public std::enable_shared_from_this<AudioTrack> {
 public:
  class Subscriber {  // network thread
   public:
    virtual ~Subscriber() = default;
    virtual void on_audio_frame(const media::EncodedAudioPtr& frame) = 0;
  };

  static std::shared_ptr<AudioTrack> create(const media::AudioConfig& config, std::string* error);
  ~AudioTrack();

  // network thread; starts the pipeline. `g711`: the peer sends PCMU/PCMA, so the pipeline
  // encodes G.711 as well while such a peer is subscribed.
  void subscribe(Subscriber* s, bool g711 = false);
  void unsubscribe(Subscriber* s);  // network thread
  void warm_up();                   // thread-safe
  media::AudioPipelineStats stats() const;
  uint64_t frames_dropped() const { return dropped_; }
  size_t subscribers() const { return subscriber_count_; }
  size_t g711_subscribers() const { return g711_count_; }
  const media::AudioConfig& config() const { return config_; }
  void close();

 private:
  AudioTrack() = default;
  void on_encoded(media::EncodedAudioPtr frame);  // media thread

  media::AudioConfig config_;
  std::unique_ptr<media::AudioPipeline> pipeline_;
  std::vector<Subscriber*> subscribers_;
  std::vector<Subscriber*> g711_subscribers_;
  std::atomic<size_t> subscriber_count_{0}, g711_count_{0};
  std::atomic<int> in_flight_{0};
  std::atomic<uint64_t> dropped_{0};
  std::atomic<bool> started_{false}, closed_{false};
  std::mutex mutex_;
};

}  // namespace kvs::rtc
