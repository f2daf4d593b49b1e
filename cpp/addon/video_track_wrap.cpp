#include "video_track_wrap.h"

#include "addon.h"

namespace kvs::addon {
namespace {

Napi::FunctionReference* g_constructor = nullptr;

int int_option(Napi::Env env, const Napi::Object& o, const char* name, int fallback) {
  if (!o.Has(name) || o.Get(name).IsUndefined()) return fallback;
  Napi::Value v = o.Get(name);
  if (!v.IsNumber()) throw_type_error(env, std::string("VideoTrack: ") + name + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (d != static_cast<int>(d)) throw_type_error(env, std::string("VideoTrack: ") + name + " must be an integer");
  return static_cast<int>(d);
}

std::string string_option(Napi::Env env, const Napi::Object& o, const char* name, const std::string& fallback) {
  if (!o.Has(name) || o.Get(name).IsUndefined()) return fallback;
  if (!o.Get(name).IsString()) throw_type_error(env, std::string("VideoTrack: ") + name + " must be a string");
  return o.Get(name).As<Napi::String>().Utf8Value();
}

}  // namespace

void VideoTrackWrap::init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "VideoTrack",
                                    {InstanceMethod("requestKeyframe", &VideoTrackWrap::request_keyframe),
                                     InstanceMethod("setBitrate", &VideoTrackWrap::set_bitrate),
                                     InstanceMethod("stats", &VideoTrackWrap::stats),
                                     InstanceMethod("close", &VideoTrackWrap::close)});
  g_constructor = new Napi::FunctionReference(Napi::Persistent(ctor));
  exports.Set("VideoTrack", ctor);
}

bool VideoTrackWrap::is(Napi::Value v) {
  return v.IsObject() && g_constructor && v.As<Napi::Object>().InstanceOf(g_constructor->Value());
}

VideoTrackWrap::VideoTrackWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<VideoTrackWrap>(info) {
  Napi::Env env = info.Env();
  Napi::Object o = info.Length() > 0 && info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(env);
  media::VideoConfig config;
  if (o.Has("source") && !o.Get("source").IsUndefined()) {
    if (!o.Get("source").IsString()) throw_type_error(env, "VideoTrack: source must be a string");
    config.source = o.Get("source").As<Napi::String>().Utf8Value();
  }
  if (o.Has("path") && !o.Get("path").IsUndefined()) {
    if (!o.Get("path").IsString()) throw_type_error(env, "VideoTrack: path must be a string");
    config.path = o.Get("path").As<Napi::String>().Utf8Value();
  }
  if (o.Get("loop").IsBoolean()) config.loop = o.Get("loop").As<Napi::Boolean>();
  if (o.Has("command") && !o.Get("command").IsUndefined()) {
    if (!o.Get("command").IsArray()) throw_type_error(env, "VideoTrack: command must be an array of strings (argv, no shell)");
    Napi::Array argv = o.Get("command").As<Napi::Array>();
    for (uint32_t i = 0; i < argv.Length(); ++i) {
      if (!argv.Get(i).IsString()) throw_type_error(env, "VideoTrack: command must be an array of strings (argv, no shell)");
      config.command.push_back(argv.Get(i).As<Napi::String>().Utf8Value());
    }
  }
  config.pipe_format = string_option(env, o, "pipeFormat", config.pipe_format);
  config.device = string_option(env, o, "device", config.device);
  config.capture_format = string_option(env, o, "captureFormat", config.capture_format);
  config.encoder = string_option(env, o, "encoder", config.encoder);
  config.encoder_device = string_option(env, o, "encoderDevice", config.encoder_device);
  if (o.Has("encoderQuirks") && !o.Get("encoderQuirks").IsUndefined()) {
    if (!o.Get("encoderQuirks").IsArray()) throw_type_error(env, "VideoTrack: encoderQuirks must be an array of strings");
    Napi::Array q = o.Get("encoderQuirks").As<Napi::Array>();
    for (uint32_t i = 0; i < q.Length(); ++i) {
      if (!q.Get(i).IsString()) throw_type_error(env, "VideoTrack: encoderQuirks must be an array of strings");
      config.encoder_quirks.push_back(q.Get(i).As<Napi::String>().Utf8Value());
    }
  }
  config.encoder_cid_bitrate = static_cast<uint32_t>(int_option(env, o, "encoderBitrateCid", 0));
  config.encoder_cid_idr_period = static_cast<uint32_t>(int_option(env, o, "encoderIdrPeriodCid", 0));
  config.encoder_width_align = int_option(env, o, "encoderWidthAlign", 0);
  config.encoder_height_align = int_option(env, o, "encoderHeightAlign", 0);
  if (o.Has("captureTimestamps") && !o.Get("captureTimestamps").IsUndefined()) {
    if (!o.Get("captureTimestamps").IsBoolean()) throw_type_error(env, "VideoTrack: captureTimestamps must be a boolean");
    config.capture_timestamps = o.Get("captureTimestamps").As<Napi::Boolean>();
  }
  config.width = int_option(env, o, "width", config.width);
  config.height = int_option(env, o, "height", config.height);
  config.fps = int_option(env, o, "fps", config.fps);
  config.bitrate_kbps = int_option(env, o, "bitrateKbps", config.bitrate_kbps);
  config.keyframe_interval = int_option(env, o, "keyframeInterval", config.keyframe_interval);
  config.qp_min = int_option(env, o, "qpMin", 0);
  config.qp_max = int_option(env, o, "qpMax", 0);
  std::string error;
  track_ = rtc::VideoTrack::create(config, &error);
  if (!track_) throw make_error(env, "ERR_MEDIA", "VideoTrack: " + error);
  std::weak_ptr<rtc::VideoTrack> weak = track_;
  closer_ = register_closer([weak] {
    if (auto t = weak.lock()) t->close();
  });
}

VideoTrackWrap::~VideoTrackWrap() { close_native(); }

void VideoTrackWrap::close_native() {
  if (closer_) unregister_closer(closer_);
  closer_ = 0;
  if (track_) track_->close();
}

Napi::Value VideoTrackWrap::request_keyframe(const Napi::CallbackInfo& info) {
  track_->request_keyframe(true);
  return info.Env().Undefined();
}

Napi::Value VideoTrackWrap::set_bitrate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) throw_type_error(env, "setBitrate(kbps): kbps must be a number");
  int kbps = info[0].As<Napi::Number>().Int32Value();
  if (kbps < 16 || kbps > 100000) throw_type_error(env, "setBitrate: kbps must be 16..100000, got " + std::to_string(kbps));
  track_->set_bitrate(kbps);
  return env.Undefined();
}

Napi::Value VideoTrackWrap::stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  rtc::VideoTrackStats s = track_->stats();
  const media::VideoConfig& c = track_->config();
  Napi::Object o = Napi::Object::New(env);
  o.Set("framesEncoded", Napi::Number::New(env, static_cast<double>(s.pipeline.frames_encoded)));
  o.Set("keyframesEncoded", Napi::Number::New(env, static_cast<double>(s.pipeline.keyframes_encoded)));
  o.Set("bytesEncoded", Napi::Number::New(env, static_cast<double>(s.pipeline.bytes_encoded)));
  o.Set("keyframeRequests", Napi::Number::New(env, static_cast<double>(s.pipeline.keyframe_requests)));
  o.Set("immediateKeyframes", Napi::Number::New(env, static_cast<double>(s.pipeline.immediate_keyframes)));
  o.Set("framesDropped", Napi::Number::New(env, static_cast<double>(s.frames_dropped)));
  o.Set("subscribers", Napi::Number::New(env, static_cast<double>(s.subscribers)));
  o.Set("bitrateKbps", Napi::Number::New(env, s.pipeline.bitrate_kbps));
  o.Set("targetBitrateKbps", Napi::Number::New(env, track_->target_kbps()));
  o.Set("width", Napi::Number::New(env, s.pipeline.width ? s.pipeline.width : c.width));
  o.Set("height", Napi::Number::New(env, s.pipeline.height ? s.pipeline.height : c.height));
  o.Set("encoder", Napi::String::New(env, s.pipeline.encoder));
  o.Set("encoderReason", Napi::String::New(env, s.pipeline.encoder_reason));
  if (!s.pipeline.encoder_device.empty()) o.Set("encoderDevice", Napi::String::New(env, s.pipeline.encoder_device));
  o.Set("source", Napi::String::New(env, s.pipeline.source));
  o.Set("sourceRestarts", Napi::Number::New(env, static_cast<double>(s.pipeline.source_restarts)));
  o.Set("sourceFramesDropped", Napi::Number::New(env, static_cast<double>(s.pipeline.source_dropped)));
  o.Set("encodeErrors", Napi::Number::New(env, static_cast<double>(s.pipeline.encode_errors)));
  o.Set("captureTimestamps", Napi::Boolean::New(env, c.capture_timestamps));
  o.Set("fps", Napi::Number::New(env, c.fps));
  return o;
}

Napi::Value VideoTrackWrap::close(const Napi::CallbackInfo& info) {
  close_native();
  return info.Env().Undefined();
}

}  // namespace kvs::addon
