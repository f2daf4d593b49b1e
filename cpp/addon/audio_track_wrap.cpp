#include "audio_track_wrap.h"

#include "addon.h"

namespace kvs::addon {
namespace {
Napi::FunctionReference* g_constructor = nullptr;

int int_option(Napi::Env env, const Napi::Object& o, const char* name, int fallback) {
  if (!o.Has(name) || o.Get(name).IsUndefined()) return fallback;
  if (!o.Get(name).IsNumber()) throw_type_error(env, std::string("AudioTrack: ") + name + " must be a number");
  return o.Get(name).As<Napi::Number>().Int32Value();
}
}  // namespace

void AudioTrackWrap::init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "AudioTrack",
                                    {InstanceMethod("stats", &AudioTrackWrap::stats),
                                     InstanceMethod("close", &AudioTrackWrap::close)});
  g_constructor = new Napi::FunctionReference(Napi::Persistent(ctor));
  exports.Set("AudioTrack", ctor);
}

bool AudioTrackWrap::is(Napi::Value v) {
  return v.IsObject() && g_constructor && v.As<Napi::Object>().InstanceOf(g_constructor->Value());
}

AudioTrackWrap::AudioTrackWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AudioTrackWrap>(info) {
  Napi::Env env = info.Env();
  Napi::Object o = info.Length() > 0 && info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(env);
  media::AudioConfig config;
  if (o.Has("source") && !o.Get("source").IsUndefined()) {
    if (!o.Get("source").IsString()) throw_type_error(env, "AudioTrack: source must be a string");
    config.source = o.Get("source").As<Napi::String>().Utf8Value();
  }
  if (o.Has("path") && !o.Get("path").IsUndefined()) {
    if (!o.Get("path").IsString()) throw_type_error(env, "AudioTrack: path must be a string");
    config.path = o.Get("path").As<Napi::String>().Utf8Value();
  }
  config.frequency_hz = int_option(env, o, "frequency", config.frequency_hz);
  config.channels = int_option(env, o, "channels", config.channels);
  config.bitrate_bps = int_option(env, o, "bitrateBps", config.bitrate_bps);
  std::string error;
  track_ = rtc::AudioTrack::create(config, &error);
  if (!track_) throw make_error(env, "ERR_MEDIA", "AudioTrack: " + error);
  std::weak_ptr<rtc::AudioTrack> weak = track_;
  closer_ = register_closer([weak] {
    if (auto t = weak.lock()) t->close();
  });
}

AudioTrackWrap::~AudioTrackWrap() { close_native(); }

void AudioTrackWrap::close_native() {
  if (closer_) unregister_closer(closer_);
  closer_ = 0;
  if (track_) track_->close();
}

Napi::Value AudioTrackWrap::stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto s = track_->stats();
  Napi::Object o = Napi::Object::New(env);
  o.Set("framesEncoded", Napi::Number::New(env, static_cast<double>(s.frames_encoded)));
  o.Set("bytesEncoded", Napi::Number::New(env, static_cast<double>(s.bytes_encoded)));
  o.Set("framesDropped", Napi::Number::New(env, static_cast<double>(track_->frames_dropped())));
  o.Set("subscribers", Napi::Number::New(env, static_cast<double>(track_->subscribers())));
  o.Set("g711Subscribers", Napi::Number::New(env, static_cast<double>(track_->g711_subscribers())));
  o.Set("g711Frames", Napi::Number::New(env, static_cast<double>(s.g711_frames)));
  o.Set("loops", Napi::Number::New(env, static_cast<double>(s.loops)));
  o.Set("passthrough", Napi::Boolean::New(env, s.passthrough));
  return o;
}

Napi::Value AudioTrackWrap::close(const Napi::CallbackInfo& info) {
  close_native();
  return info.Env().Undefined();
}

}  // namespace kvs::addon
