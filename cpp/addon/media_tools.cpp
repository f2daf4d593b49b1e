// Native media helpers for the CLI and benchmarks: V4L2 device probing (`kvs-edge probe`) and
// the software encoder benchmark (bench/encoder.ts). Media bytes stay here; JS gets figures.
#include "media_tools.h"

#include <time.h>

#include <algorithm>
#include <vector>

#include "addon.h"
#include "h264_packetizer.h"
#include "openh264_encoder.h"
#include "pattern_source.h"
#include "v4l2_probe.h"

namespace kvs::addon {
namespace {

Napi::Array strings(Napi::Env env, const std::vector<std::string>& v) {
  Napi::Array a = Napi::Array::New(env, v.size());
  for (uint32_t i = 0; i < v.size(); ++i) a.Set(i, Napi::String::New(env, v[i]));
  return a;
}

// probeV4l2(paths?: string[]): every /dev/video* (or the given nodes) with its capabilities.
Napi::Value probe_v4l2(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<std::string> paths;
  if (info.Length() > 0 && !info[0].IsUndefined()) {
    if (!info[0].IsArray()) throw_type_error(env, "probeV4l2(paths): paths must be an array of strings");
    Napi::Array a = info[0].As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) {
      if (!a.Get(i).IsString()) throw_type_error(env, "probeV4l2(paths): paths must be an array of strings");
      paths.push_back(a.Get(i).As<Napi::String>().Utf8Value());
    }
  } else {
    paths = media::list_video_nodes();
  }
  Napi::Array out = Napi::Array::New(env, paths.size());
  for (uint32_t i = 0; i < paths.size(); ++i) {
    media::V4l2NodeInfo n = media::probe_v4l2_node(paths[i]);
    Napi::Object o = Napi::Object::New(env);
    o.Set("path", n.path);
    o.Set("opened", n.opened);
    if (!n.error.empty()) o.Set("error", n.error);
    if (n.opened) {
      o.Set("driver", n.driver);
      o.Set("card", n.card);
      o.Set("busInfo", n.bus_info);
      o.Set("capabilities", strings(env, n.capabilities));
      o.Set("captureFormats", strings(env, n.capture_formats));
      o.Set("outputFormats", strings(env, n.output_formats));
    }
    o.Set("isCapture", n.is_capture);
    o.Set("isM2M", n.is_m2m);
    o.Set("isH264Encoder", n.is_h264_encoder);
    out.Set(i, o);
  }
  return out;
}

double thread_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}
double mono_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

// benchEncoder({width, height, frames, bitrateKbps, fps}): encodes the test pattern as fast as
// openh264 goes on this thread and packetizes each access unit (RFC 6184) as the track does before
// sending. Returns wall and CPU time and per-frame encode-to-packets latencies (ms).
Napi::Value bench_encoder(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw_type_error(env, "benchEncoder(options): options must be an object");
  Napi::Object o = info[0].As<Napi::Object>();
  auto num = [&](const char* k, int d) { return o.Get(k).IsNumber() ? o.Get(k).As<Napi::Number>().Int32Value() : d; };
  media::EncoderConfig ec;
  ec.width = num("width", 640);
  ec.height = num("height", 480);
  ec.fps = num("fps", 30);
  ec.bitrate_kbps = num("bitrateKbps", 2000);
  ec.keyframe_interval = 2 * ec.fps;
  const int frames = std::clamp(num("frames", 60), 1, 10000);
  if (ec.width < 16 || ec.height < 16 || ec.width % 2 || ec.height % 2 || ec.width > 3840 || ec.height > 2160)
    throw_type_error(env, "benchEncoder: width/height must be even, 16..3840 x 16..2160");
  std::string error;
  auto enc = media::OpenH264Encoder::create(ec, &error);
  if (!enc) throw make_error(env, "ERR_MEDIA", "benchEncoder: " + error);
  media::PatternSource pattern(ec.width, ec.height);
  rtc::H264Packetizer packetizer;
  media::I420Frame picture;
  std::vector<double> latency;
  double render_ms = 0, bytes = 0;
  size_t packets = 0;
  const double cpu0 = thread_cpu_ms(), wall0 = mono_ms();
  for (int i = 0; i < frames; ++i) {
    const double r0 = mono_ms();
    pattern.render(static_cast<uint64_t>(i), picture);
    const double t0 = mono_ms();
    render_ms += t0 - r0;
    auto f = enc->encode(picture, static_cast<int64_t>(t0 * 1000), &error);
    if (!f) continue;
    auto payloads = packetizer.packetize(f->data.data(), f->data.size());
    latency.push_back(mono_ms() - t0);
    packets += payloads.size();
    bytes += static_cast<double>(f->data.size());
  }
  const double wall = mono_ms() - wall0, cpu = thread_cpu_ms() - cpu0;
  Napi::Object r = Napi::Object::New(env);
  r.Set("frames", frames);
  r.Set("encoded", static_cast<double>(latency.size()));
  r.Set("wallMs", wall);
  r.Set("cpuMs", cpu);
  r.Set("renderMs", render_ms);
  r.Set("bytes", bytes);
  r.Set("packets", static_cast<double>(packets));
  Napi::Array lat = Napi::Array::New(env, latency.size());
  for (uint32_t i = 0; i < latency.size(); ++i) lat.Set(i, latency[i]);
  r.Set("latencyMs", lat);
  return r;
}

}  // namespace

void init_media_tools(Napi::Env env, Napi::Object exports) {
  exports.Set("probeV4l2", Napi::Function::New(env, probe_v4l2));
  exports.Set("benchEncoder", Napi::Function::New(env, bench_encoder));
}

}  // namespace kvs::addon
