#include "addon.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
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

// sd_notify(3): one datagram to the unix socket systemd names in $NOTIFY_SOCKET (a path, or '@'
// and an abstract name). Sent by this process, so systemd credits it to the main PID and the
// unit can say NotifyAccess=main. Never blocks: a full queue is an error the caller may ignore.
Napi::Value notify_socket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString()) {
    throw_type_error(env, "notifySocket(socket, message): both must be strings");
  }
  std::string path = info[0].As<Napi::String>();
  std::string message = info[1].As<Napi::String>();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() < 2 || path.size() > sizeof addr.sun_path - 1 || (path[0] != '/' && path[0] != '@')) {
    throw_type_error(env, "notifySocket: \"" + path + "\" is not an absolute socket path or @abstract name (at most " +
                              std::to_string(sizeof addr.sun_path - 1) + " bytes)");
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
  if (path[0] == '@') addr.sun_path[0] = '\0';  // abstract: no terminating NUL counted
  else len += 1;
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw make_error(env, "ERR_NOTIFY", std::string("notify socket: ") + std::strerror(errno));
  ssize_t n = ::sendto(fd, message.data(), message.size(), MSG_NOSIGNAL | MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&addr), len);
  int err = errno;
  ::close(fd);
  if (n < 0) throw make_error(env, "ERR_NOTIFY", "notify " + path + ": " + std::strerror(err));
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
  exports.Set("notifySocket", Napi::Function::New(env, notify_socket));
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
