// JS AudioTrack: holds one rtc::AudioTrack (tone -> Opus), shared by every peer it is added to.
#pragma once
#include <napi.h>

#include <memory>

#include "audio_track.h"

namespace kvs::addon {

class AudioTrackWrap : public Napi::ObjectWrap<AudioTrackWrap> {
 public:
  static void init(Napi::Env env, Napi::Object exports);
  static bool is(Napi::Value v);
  explicit AudioTrackWrap(const Napi::CallbackInfo& info);
  ~AudioTrackWrap() override;
  std::shared_ptr<rtc::AudioTrack> track() const { return track_; }

 private:
  Napi::Value stats(const Napi::CallbackInfo& info);
  Napi::Value close(const Napi::CallbackInfo& info);
  void close_native();

  std::shared_ptr<rtc::AudioTrack> track_;
  int closer_ = 0;
};

}  // namespace kvs::addon
