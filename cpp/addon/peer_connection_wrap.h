// JS PeerConnection: converts arguments, forwards calls to the network thread, and turns the
// engine's observer callbacks into JS events through one thread-safe function.
#pragma once
#include <napi.h>

#include <memory>
#include <optional>
#include <functional>
#include <string>
#include <vector>

#include "peer_connection.h"

namespace kvs::addon {

// One event for JavaScript: either a named event for emit(name, value), or the settlement of a
// promise (deferred set).
struct JsEvent {
  std::string name;
  std::string text;   // candidate / state / reason / answer SDP / error message
  std::string mid;
  int mline = -1;
  std::string error_code;  // for a rejected promise
  std::unique_ptr<Napi::Promise::Deferred> deferred;
  // Data channel events
  int channel = -1;
  bool binary = false;
  std::vector<uint8_t> bytes;
  std::string protocol;
  bool ordered = true;
};

void deliver_js_event(Napi::Env env, Napi::Function emit, std::nullptr_t*, JsEvent* event);
using EventFn = Napi::TypedThreadSafeFunction<std::nullptr_t, JsEvent, deliver_js_event>;

class PeerConnectionWrap : public Napi::ObjectWrap<PeerConnectionWrap> {
 public:
  static void init(Napi::Env env, Napi::Object exports);
  explicit PeerConnectionWrap(const Napi::CallbackInfo& info);
  ~PeerConnectionWrap() override;

 private:
  Napi::Value add_track(const Napi::CallbackInfo& info);
  Napi::Value set_remote_offer(const Napi::CallbackInfo& info);
  Napi::Value create_offer(const Napi::CallbackInfo& info);
  Napi::Value set_remote_answer(const Napi::CallbackInfo& info);
  // A promise settled on the JS thread by a callback the network thread calls once.
  std::function<void(std::optional<rtc::PeerError>, std::string)> settle_later(Napi::Promise::Deferred* d);
  // A new promise; *out is its deferred, or nullptr when the peer is closed (already rejected).
  Napi::Promise begin_promise(Napi::Env env, Napi::Promise::Deferred** out);
  Napi::Value add_remote_candidate(const Napi::CallbackInfo& info);
  Napi::Value create_data_channel(const Napi::CallbackInfo& info);
  Napi::Value send_data(const Napi::CallbackInfo& info);
  Napi::Value close_data_channel(const Napi::CallbackInfo& info);
  Napi::Value get_stats(const Napi::CallbackInfo& info);
  Napi::Value close(const Napi::CallbackInfo& info);
  Napi::Value id(const Napi::CallbackInfo& info);

  std::shared_ptr<rtc::PeerConnection> pc_;
  EventFn events_;
  std::string id_;
  int closer_ = 0;
  bool closed_ = false;  // close() called from JS: the wrapper's hold on events_ is released
};

}  // namespace kvs::addon
