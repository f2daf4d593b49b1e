#include "peer_connection_wrap.h"

#include <atomic>
#include <cstring>

#include "addon.h"
#include "network_thread.h"
#include "audio_track_wrap.h"
#include "video_track_wrap.h"

namespace kvs::addon {
namespace {

std::atomic<uint64_t> g_peer_counter{0};

// Engine callbacks (network thread) -> JS events. Released with the peer.
class Observer : public rtc::PeerConnection::Observer {
 public:
  explicit Observer(EventFn events) : events_(events) {}
  ~Observer() override { events_.Release(); }

  void on_local_candidate(const std::string& candidate, const std::string& mid, int mline) override {
    auto* e = new JsEvent{"candidate", candidate, mid, mline, "", nullptr};
    send(e);
  }
  void on_gathering_done() override { send(new JsEvent{"gathering-done", "", "", -1, "", nullptr}); }
  void on_state(rtc::PeerState s) override {
    send(new JsEvent{"state", rtc::to_string(s), "", -1, "", nullptr});
  }
  void on_keyframe_request(const char* reason) override {
    send(new JsEvent{"keyframe-request", reason, "", -1, "", nullptr});
  }
  void on_data_channel_open(const rtc::DataChannelInfo& ch) override {
    auto* e = new JsEvent{"datachannel", ch.label, "", -1, "", nullptr};
    e->channel = ch.id;
    e->protocol = ch.protocol;
    e->ordered = ch.ordered;
    send(e);
  }
  void on_data_channel_message(uint16_t id, bool binary, const uint8_t* data, size_t size) override {
    auto* e = new JsEvent{"datachannel-message", "", "", -1, "", nullptr};
    e->channel = id;
    e->binary = binary;
    e->bytes.assign(data, data + size);
    send(e);
  }
  void on_data_channel_closed(uint16_t id) override {
    auto* e = new JsEvent{"datachannel-close", "", "", -1, "", nullptr};
    e->channel = id;
    send(e);
  }

 private:
  void send(JsEvent* e) {
    if (events_.NonBlockingCall(e) != napi_ok) delete e;
  }
  EventFn events_;
};

std::string string_option(Napi::Env env, const Napi::Object& o, const char* name) {
  if (!o.Has(name) || o.Get(name).IsUndefined() || o.Get(name).IsNull()) return "";
  if (!o.Get(name).IsString()) throw_type_error(env, std::string("PeerConnection: ") + name + " must be a string");
  return o.Get(name).As<Napi::String>().Utf8Value();
}

void parse_ice_servers(Napi::Env env, const Napi::Value& v, rtc::IceOptions* ice) {
  if (v.IsUndefined() || v.IsNull()) return;
  if (!v.IsArray()) throw_type_error(env, "PeerConnection: iceServers must be an array");
  Napi::Array arr = v.As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value item = arr.Get(i);
    if (!item.IsObject()) throw_type_error(env, "PeerConnection: iceServers[" + std::to_string(i) + "] must be an object");
    Napi::Object s = item.As<Napi::Object>();
    std::vector<std::string> urls;
    Napi::Value u = s.Get("urls");
    if (u.IsString()) urls.push_back(u.As<Napi::String>());
    else if (u.IsArray()) {
      Napi::Array ua = u.As<Napi::Array>();
      for (uint32_t k = 0; k < ua.Length(); ++k) {
        if (!ua.Get(k).IsString()) throw_type_error(env, "PeerConnection: iceServers[" + std::to_string(i) + "].urls must hold strings");
        urls.push_back(ua.Get(k).As<Napi::String>());
      }
    } else {
      throw_type_error(env, "PeerConnection: iceServers[" + std::to_string(i) + "].urls must be a string or an array");
    }
    std::string username = string_option(env, s, "username");
    std::string credential = string_option(env, s, "credential");
    for (auto& url : urls) {
      rtc::IceServerConfig c;
      std::string error;
      if (!rtc::parse_ice_server_url(url, &c, &error)) throw_type_error(env, "PeerConnection: " + error);
      c.username = username;
      c.credential = credential;
      if (c.kind != rtc::IceServerConfig::kStun && (username.empty() || credential.empty()))
        throw_type_error(env, "PeerConnection: TURN server " + url + " needs username and credential");
      ice->servers.push_back(c);
    }
  }
}

}  // namespace

void deliver_js_event(Napi::Env env, Napi::Function emit, std::nullptr_t*, JsEvent* event) {
  std::unique_ptr<JsEvent> e(event);
  if (!env) return;  // the environment is going away
  if (e->deferred) {
    if (e->error_code.empty()) e->deferred->Resolve(Napi::String::New(env, e->text));
    else e->deferred->Reject(make_error(env, e->error_code, e->text).Value());
    return;
  }
  Napi::Value value = env.Undefined();
  if (e->name == "candidate") {
    Napi::Object c = Napi::Object::New(env);
    c.Set("candidate", e->text);
    c.Set("sdpMid", e->mid);
    c.Set("sdpMLineIndex", e->mline);
    value = c;
  } else if (e->name == "state" || e->name == "keyframe-request") {
    value = Napi::String::New(env, e->text);
  } else if (e->name == "datachannel") {
    Napi::Object c = Napi::Object::New(env);
    c.Set("id", e->channel);
    c.Set("label", e->text);
    c.Set("protocol", e->protocol);
    c.Set("ordered", e->ordered);
    value = c;
  } else if (e->name == "datachannel-message") {
    Napi::Object m = Napi::Object::New(env);
    m.Set("id", e->channel);
    if (e->binary) m.Set("data", Napi::Buffer<uint8_t>::Copy(env, e->bytes.data(), e->bytes.size()));
    else m.Set("data", Napi::String::New(env, reinterpret_cast<const char*>(e->bytes.data()), e->bytes.size()));
    value = m;
  } else if (e->name == "datachannel-close") {
    Napi::Object m = Napi::Object::New(env);
    m.Set("id", e->channel);
    value = m;
  }
  emit.Call({Napi::String::New(env, e->name), value});
}

void PeerConnectionWrap::init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor =
      DefineClass(env, "PeerConnection",
                  {InstanceMethod("addTrack", &PeerConnectionWrap::add_track),
                   InstanceMethod("setRemoteOffer", &PeerConnectionWrap::set_remote_offer),
                   InstanceMethod("createOffer", &PeerConnectionWrap::create_offer),
                   InstanceMethod("setRemoteAnswer", &PeerConnectionWrap::set_remote_answer),
                   InstanceMethod("addRemoteCandidate", &PeerConnectionWrap::add_remote_candidate),
                   InstanceMethod("createDataChannel", &PeerConnectionWrap::create_data_channel),
                   InstanceMethod("sendData", &PeerConnectionWrap::send_data),
                   InstanceMethod("closeDataChannel", &PeerConnectionWrap::close_data_channel),
                   InstanceMethod("getStats", &PeerConnectionWrap::get_stats),
                   InstanceMethod("close", &PeerConnectionWrap::close),
                   InstanceAccessor("id", &PeerConnectionWrap::id, nullptr)});
  exports.Set("PeerConnection", ctor);
}

PeerConnectionWrap::PeerConnectionWrap(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<PeerConnectionWrap>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction())
    throw_type_error(env, "new PeerConnection(options, emit): options object and emit function required");
  Napi::Object o = info[0].As<Napi::Object>();
  rtc::PeerConfig config;
  config.id = string_option(env, o, "id");
  if (config.id.empty()) config.id = "peer-" + std::to_string(++g_peer_counter);
  parse_ice_servers(env, o.Get("iceServers"), &config.ice);
  std::string policy = string_option(env, o, "iceTransportPolicy");
  if (policy == "relay") config.ice.relay_only = true;
  else if (!policy.empty() && policy != "all")
    throw_type_error(env, "PeerConnection: iceTransportPolicy must be \"all\" or \"relay\", got \"" + policy + "\"");
  Napi::Value la = o.Get("localAddresses");
  if (la.IsArray()) {
    Napi::Array arr = la.As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); ++i) {
      if (!arr.Get(i).IsString()) throw_type_error(env, "PeerConnection: localAddresses must hold strings");
      config.ice.local_addresses.push_back(arr.Get(i).As<Napi::String>());
    }
  } else if (!la.IsUndefined() && !la.IsNull()) {
    throw_type_error(env, "PeerConnection: localAddresses must be an array of IP addresses");
  }
  std::string role = string_option(env, o, "dtlsRole");
  if (role == "client") config.dtls_role = rtc::PeerConfig::DtlsRole::kClient;
  else if (role == "server") config.dtls_role = rtc::PeerConfig::DtlsRole::kServer;
  else if (!role.empty() && role != "auto")
    throw_type_error(env, "PeerConnection: dtlsRole must be \"auto\", \"client\" or \"server\", got \"" + role + "\"");
  Napi::Value sink = o.Get("audioSink");
  if (sink.IsObject()) {
    // { path, format?: 'wav' | 'ogg' } (format from the extension by default) or { command: argv }
    Napi::Object so = sink.As<Napi::Object>();
    Napi::Value path = so.Get("path"), command = so.Get("command"), format = so.Get("format");
    if (!path.IsUndefined() && !command.IsUndefined())
      throw_type_error(env, "PeerConnection: audioSink takes a path or a command, not both");
    if (command.IsArray()) {
      Napi::Array argv = command.As<Napi::Array>();
      if (argv.Length() == 0) throw_type_error(env, "PeerConnection: audioSink.command must be a non-empty argv array");
      for (uint32_t i = 0; i < argv.Length(); ++i) {
        if (!argv.Get(i).IsString() || (i == 0 && argv.Get(i).As<Napi::String>().Utf8Value().empty()))
          throw_type_error(env, "PeerConnection: audioSink.command must hold strings (argv, no shell)");
        config.audio_sink.command.push_back(argv.Get(i).As<Napi::String>());
      }
      config.audio_sink.kind = "command";
    } else if (!command.IsUndefined()) {
      throw_type_error(env, "PeerConnection: audioSink.command must be an argv array, e.g. [\"aplay\", \"-f\", \"S16_LE\", \"-r\", \"48000\", \"-c\", \"1\", \"-\"]");
    } else {
      if (!path.IsString() || path.As<Napi::String>().Utf8Value().empty())
        throw_type_error(env, "PeerConnection: audioSink.path must be a file path");
      std::string p = path.As<Napi::String>();
      std::string f = format.IsString() ? format.As<Napi::String>().Utf8Value() : "";
      if (!format.IsUndefined() && f != "wav" && f != "ogg")
        throw_type_error(env, "PeerConnection: audioSink.format must be \"wav\" or \"ogg\"");
      auto ends = [&p](const char* ext) { return p.size() > std::strlen(ext) && p.compare(p.size() - std::strlen(ext), std::string::npos, ext) == 0; };
      if (f.empty()) f = ends(".ogg") || ends(".opus") ? "ogg" : "wav";
      config.audio_sink.kind = f;
      config.audio_sink.path = p;
    }
  } else if (!sink.IsUndefined() && !sink.IsNull()) {
    throw_type_error(env, "PeerConnection: audioSink must be { path, format? } or { command }");
  }
  Napi::Value tcp = o.Get("iceTcpCandidates");
  if (!tcp.IsUndefined() && !tcp.IsBoolean()) throw_type_error(env, "PeerConnection: iceTcpCandidates must be a boolean");
  config.ice.tcp_candidates = tcp.IsBoolean() && tcp.As<Napi::Boolean>().Value();
  Napi::Value wg = o.Get("waitForGathering");
  config.wait_for_gathering = wg.IsBoolean() && wg.As<Napi::Boolean>().Value();
  id_ = config.id;

  // Two holds on the event function: the engine's observer (released when the peer closes,
  // whoever closes it) and this wrapper (released by close() or the finalizer), so JS calls
  // after a remote close still find a live function.
  events_ = EventFn::New(env, info[1].As<Napi::Function>(), "kvs-edge peer events", 0, 1);
  events_.Acquire();
  pc_ = rtc::PeerConnection::create(std::move(config), std::make_unique<Observer>(events_));
  std::weak_ptr<rtc::PeerConnection> weak = pc_;
  closer_ = register_closer([weak] {
    if (auto pc = weak.lock()) rtc::NetworkThread::instance().invoke([pc] { pc->close(); });
  });
}

PeerConnectionWrap::~PeerConnectionWrap() {
  if (closer_) unregister_closer(closer_);
  if (!closed_) events_.Release();
  // The peer is closed and destroyed on the network thread, which owns its state.
  rtc::NetworkThread::instance().post([pc = std::move(pc_)]() mutable {
    if (pc) pc->close();
    pc.reset();
  });
}

Napi::Value PeerConnectionWrap::id(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), id_);
}

Napi::Value PeerConnectionWrap::add_track(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto pc = pc_;
  if (info.Length() >= 1 && VideoTrackWrap::is(info[0])) {
    auto track = VideoTrackWrap::Unwrap(info[0].As<Napi::Object>())->track();
    rtc::NetworkThread::instance().invoke([pc, track] { pc->add_track(track); });
  } else if (info.Length() >= 1 && AudioTrackWrap::is(info[0])) {
    auto track = AudioTrackWrap::Unwrap(info[0].As<Napi::Object>())->track();
    rtc::NetworkThread::instance().invoke([pc, track] { pc->add_audio_track(track); });
  } else {
    throw_type_error(env, "addTrack(track): track must be a VideoTrack or an AudioTrack");
  }
  return env.Undefined();
}

Napi::Value PeerConnectionWrap::set_remote_offer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw_type_error(env, "setRemoteOffer(sdp): sdp must be a string");
  std::string sdp = info[0].As<Napi::String>();
  Napi::Promise::Deferred* d = nullptr;
  Napi::Promise promise = begin_promise(env, &d);
  if (!d) return promise;
  if (sdp.size() > 256 * 1024) {
    d->Reject(make_error(env, "ERR_SDP_PARSE", "offer rejected: SDP larger than 256 KiB").Value());
    delete d;
    return promise;
  }
  auto settle = settle_later(d);
  auto pc = pc_;
  rtc::NetworkThread::instance().post([pc, sdp, settle]() mutable { pc->set_remote_offer(sdp, settle); });
  return promise;
}

Napi::Promise PeerConnectionWrap::begin_promise(Napi::Env env, Napi::Promise::Deferred** out) {
  auto* d = new Napi::Promise::Deferred(env);
  Napi::Promise promise = d->Promise();
  if (closed_) {
    d->Reject(make_error(env, "ERR_CLOSED", "the peer connection is closed").Value());
    delete d;
    d = nullptr;
  }
  *out = d;
  return promise;
}

std::function<void(std::optional<rtc::PeerError>, std::string)> PeerConnectionWrap::settle_later(
    Napi::Promise::Deferred* d) {
  events_.Acquire();  // held until the promise is settled
  EventFn events = events_;
  return [events, d](std::optional<rtc::PeerError> error, std::string text) mutable {
    auto* e = new JsEvent{"settle", error ? error->message : text, "", -1, error ? rtc::to_string(error->code) : "",
                          std::unique_ptr<Napi::Promise::Deferred>(d)};
    if (events.NonBlockingCall(e) != napi_ok) delete e;
    events.Release();
  };
}

Napi::Value PeerConnectionWrap::create_offer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  rtc::PeerConnection::OfferOptions options;
  if (info.Length() > 0 && info[0].IsObject()) {
    Napi::Object o = info[0].As<Napi::Object>();
    if (o.Has("video") && !o.Get("video").IsUndefined()) {
      if (!o.Get("video").IsBoolean()) throw_type_error(env, "createOffer: video must be a boolean");
      options.video = o.Get("video").As<Napi::Boolean>();
    }
    options.audio = string_option(env, o, "audio");
    Napi::Value dc = o.Get("dataChannel");
    options.data_channel = dc.IsBoolean() && dc.As<Napi::Boolean>().Value();
  }
  Napi::Promise::Deferred* d = nullptr;
  Napi::Promise promise = begin_promise(env, &d);
  if (!d) return promise;
  auto settle = settle_later(d);
  auto pc = pc_;
  rtc::NetworkThread::instance().post([pc, options, settle]() mutable { pc->create_offer(options, settle); });
  return promise;
}

Napi::Value PeerConnectionWrap::set_remote_answer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw_type_error(env, "setRemoteAnswer(sdp): sdp must be a string");
  std::string sdp = info[0].As<Napi::String>();
  Napi::Promise::Deferred* d = nullptr;
  Napi::Promise promise = begin_promise(env, &d);
  if (!d) return promise;
  auto settle = settle_later(d);
  auto pc = pc_;
  rtc::NetworkThread::instance().post([pc, sdp, settle]() mutable {
    pc->set_remote_answer(sdp, [settle](std::optional<rtc::PeerError> error) mutable { settle(error, ""); });
  });
  return promise;
}

Napi::Value PeerConnectionWrap::create_data_channel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw_type_error(env, "createDataChannel(label, options?): label must be a string");
  rtc::DataChannelInfo ch;
  ch.label = info[0].As<Napi::String>();
  if (info.Length() > 1 && info[1].IsObject()) {
    Napi::Object o = info[1].As<Napi::Object>();
    if (o.Get("ordered").IsBoolean()) ch.ordered = o.Get("ordered").As<Napi::Boolean>();
    if (o.Get("maxRetransmits").IsNumber()) ch.max_retransmits = o.Get("maxRetransmits").As<Napi::Number>().Int32Value();
    if (o.Get("maxPacketLifeTime").IsNumber()) ch.max_packet_life_ms = o.Get("maxPacketLifeTime").As<Napi::Number>().Int32Value();
    ch.protocol = string_option(env, o, "protocol");
    if (ch.max_retransmits >= 0 && ch.max_packet_life_ms >= 0)
      throw_type_error(env, "createDataChannel: maxRetransmits and maxPacketLifeTime cannot both be set");
  }
  std::optional<rtc::PeerError> error;
  int id = -1;
  auto pc = pc_;
  rtc::NetworkThread::instance().invoke([&] { error = pc->open_data_channel(ch, &id); });
  if (error) throw make_error(env, rtc::to_string(error->code), error->message);
  return Napi::Number::New(env, id);
}

Napi::Value PeerConnectionWrap::send_data(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !(info[1].IsString() || info[1].IsBuffer()))
    throw_type_error(env, "sendData(id, data): id a number, data a string or a Buffer");
  int id = info[0].As<Napi::Number>().Int32Value();
  if (id < 0 || id > 65535) throw_type_error(env, "sendData: id must be 0..65535");
  bool binary = info[1].IsBuffer();
  std::vector<uint8_t> data;
  if (binary) {
    auto b = info[1].As<Napi::Buffer<uint8_t>>();
    data.assign(b.Data(), b.Data() + b.Length());
  } else {
    std::string text = info[1].As<Napi::String>();
    data.assign(text.begin(), text.end());
  }
  std::optional<rtc::PeerError> error;
  auto pc = pc_;
  rtc::NetworkThread::instance().invoke([&] { error = pc->send_data(static_cast<uint16_t>(id), binary, data); });
  if (error) throw make_error(env, rtc::to_string(error->code), error->message);
  return env.Undefined();
}

Napi::Value PeerConnectionWrap::close_data_channel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) throw_type_error(env, "closeDataChannel(id): id must be a number");
  int id = info[0].As<Napi::Number>().Int32Value();
  auto pc = pc_;
  rtc::NetworkThread::instance().post([pc, id] { pc->close_data_channel(static_cast<uint16_t>(id)); });
  return env.Undefined();
}

Napi::Value PeerConnectionWrap::add_remote_candidate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject())
    throw_type_error(env, "addRemoteCandidate(init): init must be { candidate, sdpMid?, sdpMLineIndex? }");
  Napi::Object o = info[0].As<Napi::Object>();
  std::string candidate = string_option(env, o, "candidate");
  std::string mid = string_option(env, o, "sdpMid");
  if (candidate.size() > 2048) throw make_error(env, "ERR_INVALID_ARG", "ICE candidate longer than 2048 bytes");
  std::optional<rtc::PeerError> error;
  auto pc = pc_;
  rtc::NetworkThread::instance().invoke([&] { error = pc->add_remote_candidate(candidate, mid); });
  if (error) throw make_error(env, rtc::to_string(error->code), error->message);
  return env.Undefined();
}

Napi::Value PeerConnectionWrap::get_stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  rtc::PeerStats s;
  auto pc = pc_;
  rtc::NetworkThread::instance().invoke([&] { s = pc->stats(); });
  Napi::Object o = Napi::Object::New(env);
  auto num = [&](const char* k, double v) { o.Set(k, Napi::Number::New(env, v)); };
  o.Set("id", id_);
  o.Set("state", rtc::to_string(s.state));
  o.Set("iceState", s.ice_state);
  o.Set("dtlsState", s.dtls_state);
  if (!s.dtls_role.empty()) o.Set("dtlsRole", s.dtls_role);
  if (!s.srtp_profile.empty()) o.Set("srtpProfile", s.srtp_profile);
  if (s.has_pair) {
    Napi::Object p = Napi::Object::New(env);
    p.Set("local", s.local_address);
    p.Set("remote", s.remote_address);
    p.Set("localType", s.local_type);
    p.Set("remoteType", s.remote_type);
    o.Set("selectedPair", p);
  }
  num("packetsSent", static_cast<double>(s.packets_sent));
  num("bytesSent", static_cast<double>(s.bytes_sent));
  num("framesSent", static_cast<double>(s.frames_sent));
  num("keyframesSent", static_cast<double>(s.keyframes_sent));
  num("packetsReceived", static_cast<double>(s.packets_received));
  num("bytesReceived", static_cast<double>(s.bytes_received));
  num("pliReceived", static_cast<double>(s.pli_received));
  num("firReceived", static_cast<double>(s.fir_received));
  num("nackReceived", static_cast<double>(s.nack_received));
  num("retransmitted", static_cast<double>(s.retransmitted));
  o.Set("rtx", s.rtx);
  num("sendErrors", static_cast<double>(s.send_errors));
  num("sendBatches", static_cast<double>(s.send_batches));
  num("packetsSentBatched", static_cast<double>(s.packets_sent_batched));
  num("audioPacketsSent", static_cast<double>(s.audio_packets_sent));
  num("audioPacketsReceived", static_cast<double>(s.audio_packets_received));
  num("audioBytesReceived", static_cast<double>(s.audio_bytes_received));
  num("audioSamplesWritten", static_cast<double>(s.audio_samples_written));
  num("audioSinkPackets", static_cast<double>(s.audio_sink_packets));
  num("audioSinkBytes", static_cast<double>(s.audio_sink_bytes));
  num("audioSinkDropped", static_cast<double>(s.audio_sink_dropped));
  num("audioSinkRestarts", static_cast<double>(s.audio_sink_restarts));
  num("dataMessagesSent", static_cast<double>(s.data_messages_sent));
  num("dataMessagesReceived", static_cast<double>(s.data_messages_received));
  num("dataBytesSent", static_cast<double>(s.data_bytes_sent));
  num("dataBytesReceived", static_cast<double>(s.data_bytes_received));
  num("framesReceived", static_cast<double>(s.frames_received));
  num("keyframesReceived", static_cast<double>(s.keyframes_received));
  if (s.glass_to_glass_samples > 0) {
    num("glassToGlassMs", s.glass_to_glass_ms);
    num("glassToGlassMeanMs", s.glass_to_glass_sum_ms / static_cast<double>(s.glass_to_glass_samples));
    num("glassToGlassSamples", static_cast<double>(s.glass_to_glass_samples));
  }
  num("videoBytesReceived", static_cast<double>(s.video_bytes_received));
  num("incompleteFrames", static_cast<double>(s.incomplete_frames));
  num("videoPacketsReceived", static_cast<double>(s.video_packets_received));
  num("videoPacketsLost", static_cast<double>(s.video_packets_lost));
  num("receiverReportsSent", static_cast<double>(s.receiver_reports_sent));
  num("joinBurstFrames", static_cast<double>(s.join_burst_frames));
  if (s.rtt_ms >= 0) num("rttMs", s.rtt_ms);
  if (s.fraction_lost >= 0) num("fractionLost", s.fraction_lost);
  if (s.jitter >= 0) num("jitter", s.jitter);
  if (s.estimated_kbps >= 0) num("estimatedBitrateKbps", s.estimated_kbps);
  if (!s.estimate_source.empty()) o.Set("estimateSource", s.estimate_source);
  o.Set("transportCc", s.transport_cc);
  num("twccFeedbackReceived", static_cast<double>(s.twcc_feedback_received));
  num("twccFeedbackErrors", static_cast<double>(s.twcc_feedback_errors));
  num("twccFeedbackSent", static_cast<double>(s.twcc_feedback_sent));
  if (s.twcc_estimate_kbps >= 0) num("twccEstimateKbps", s.twcc_estimate_kbps);
  if (s.twcc_acked_kbps >= 0) num("twccAckedKbps", s.twcc_acked_kbps);
  if (s.twcc_loss_fraction >= 0) num("twccLossFraction", s.twcc_loss_fraction);
  if (!s.twcc_delay_signal.empty()) o.Set("twccDelaySignal", s.twcc_delay_signal);
  Napi::Object t = Napi::Object::New(env);
  if (s.ice_connected_ms >= 0) t.Set("iceConnectedMs", s.ice_connected_ms);
  if (s.dtls_connected_ms >= 0) t.Set("dtlsConnectedMs", s.dtls_connected_ms);
  if (s.first_frame_ms >= 0) t.Set("firstFrameSentMs", s.first_frame_ms);
  if (s.first_frame_received_ms >= 0) t.Set("firstFrameReceivedMs", s.first_frame_received_ms);
  o.Set("timing", t);
  return o;
}

Napi::Value PeerConnectionWrap::close(const Napi::CallbackInfo& info) {
  if (closed_) return info.Env().Undefined();
  closed_ = true;
  auto pc = pc_;
  if (pc) rtc::NetworkThread::instance().post([pc] { pc->close(); });
  events_.Release();
  return info.Env().Undefined();
}

}  // namespace kvs::addon
