// JS VideoTrack: holds one rtc::VideoTrack (encoder pipeline + shared packet history).
#pragma once
#include <napi.h>

#include <memory>

#include "video_track.h"

namespace kvs::addon {

class VideoTrackWrap : public Napi::ObjectWrap<VideoTrackWrap> {
 public:
  static void init(Napi::Env env, Napi::Object exports);
  static bool is(Napi::Value v);
  explicit VideoTrackWrap(const Napi::CallbackInfo& info);
  ~VideoTrackWrap() override;

  std::shared_ptr<rtc::VideoTrack> track() const { return track_; }

 private:
  Napi::Value request_keyframe(const Napi::CallbackInfo& info);
  Napi::Value set_bitrate(const Napi::CallbackInfo& info);
  Napi::Value stats(const Napi::CallbackInfo& info);
  Napi::Value close(const Napi::CallbackInfo& info);
  void close_native();

  std::shared_ptr<rtc::VideoTrack> track_;
  int closer_ = 0;
};

}  // namespace kvs::addon
