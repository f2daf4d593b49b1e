#include "addon.h"

#include <map>
#include <mutex>

#include "log.h"
#include "network_thread.h"
#include "peer_connection_wrap.h"
#include "audio_track_wrap.h"
#include "video_track_wrap.h"
#include "media_tools.h"

namespace kvs::addon {
namespace {

std::mutex g_mutex;
std::map<int, Closer> g_closers;
int g_next = 1;

void cleanup(void*) {
  std::map<int, Closer> closers;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    closers.swap(g_closers);
  }
  for (auto& [handle, close] : closers) close();
  rtc::NetworkThread::instance().stop();
}

Napi::Value set_log_level(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw_type_error(env, "setLogLevel(level): level must be a string");
  std::string level = info[0].As<Napi::String>();
  if (level == "error") rtc::set_log_level(rtc::LogLevel::kError);
  else if (level == "warn") rtc::set_log_level(rtc::LogLevel::kWarn);
  else if (level == "info") rtc::set_log_level(rtc::LogLevel::kInfo);
  else if (level == "debug") rtc::set_log_level(rtc::LogLevel::kDebug);
  else throw_type_error(env, "setLogLevel: level must be error|warn|info|debug, got \"" + level + "\"");
  return env.Undefined();
}

Napi::Value certificate_fingerprint(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), rtc::Certificate::instance().fingerprint_sha256());
}

}  // namespace

Napi::Object init(Napi::Env env, Napi::Object exports) {
  napi_add_env_cleanup_hook(env, cleanup, nullptr);
  rtc::NetworkThread::instance().warm_up();
  PeerConnectionWrap::init(env, exports);
  VideoTrackWrap::init(env, exports);
  AudioTrackWrap::init(env, exports);
  init_media_tools(env, exports);
  exports.Set("setLogLevel", Napi::Function::New(env, set_log_level));
  exports.Set("certificateFingerprint", Napi::Function::New(env, certificate_fingerprint));
  return exports;
}

void throw_type_error(Napi::Env env, const std::string& message) {
  Napi::TypeError err = Napi::TypeError::New(env, message);
  err.Set("code", Napi::String::New(env, "ERR_INVALID_ARG"));
  throw err;
}

Napi::Error make_error(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  return err;
}

int register_closer(Closer closer) {
  std::lock_guard<std::mutex> lock(g_mutex);
  int handle = g_next++;
  g_closers[handle] = std::move(closer);
  return handle;
}

void unregister_closer(int handle) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_closers.erase(handle);
}

}  // namespace kvs::addon

static Napi::Object InitKvsEdge(Napi::Env env, Napi::Object exports) {
  return kvs::addon::init(env, exports);
}

NODE_API_MODULE(kvs_edge, InitKvsEdge)
