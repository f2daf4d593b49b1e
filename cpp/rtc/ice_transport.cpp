#include "ice_transport.h"

#include <netdb.h>
#include <nice/agent.h>
#include <dirent.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>

#include "log.h"

namespace kvs::rtc {
namespace {

constexpr guint kComponent = 1;  // RTP and RTCP multiplexed (RFC 5761)
constexpr guint kCheckPacingMs = 5;

// Resolves a host name or literal to a numeric address string (libnice wants literals).
bool resolve(const std::string& host, std::string* ip) {
  std::string h = host;
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  addrinfo hints{};
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(h.c_str(), nullptr, &hints, &res) != 0 || !res) return false;
  char buf[NI_MAXHOST];
  bool ok = getnameinfo(res->ai_addr, res->ai_addrlen, buf, sizeof buf, nullptr, 0, NI_NUMERICHOST) == 0;
  freeaddrinfo(res);
  if (ok) *ip = buf;
  return ok;
}

// Related addresses given to TCP/TLS relayed candidates, process-wide ("ip port").
std::mutex& claimed_related_mutex() {
  static std::mutex m;
  return m;
}
std::set<std::string>& claimed_related() {
  static std::set<std::string> s;
  return s;
}

const char* candidate_type(NiceCandidateType t) {
  switch (t) {
    case NICE_CANDIDATE_TYPE_HOST: return "host";
    case NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE: return "srflx";
    case NICE_CANDIDATE_TYPE_PEER_REFLEXIVE: return "prflx";
    case NICE_CANDIDATE_TYPE_RELAYED: return "relay";
  }
  return "unknown";
}

std::string address_string(const NiceAddress& a) {
  char buf[NICE_ADDRESS_STRING_LEN];
  nice_address_to_string(&a, buf);
  return std::string(buf) + ":" + std::to_string(nice_address_get_port(&a));
}

}  // namespace

const char* to_string(IceTransport::State s) {
  switch (s) {
    case IceTransport::State::kNew: return "new";
    case IceTransport::State::kGathering: return "gathering";
    case IceTransport::State::kConnecting: return "checking";
    case IceTransport::State::kConnected: return "connected";
    case IceTransport::State::kFailed: return "failed";
    case IceTransport::State::kDisconnected: return "disconnected";
    case IceTransport::State::kClosed: return "closed";
  }
  return "unknown";
}

bool parse_ice_server_url(const std::string& url, IceServerConfig* out, std::string* error) {
  std::string rest;
  if (url.rfind("stuns:", 0) == 0) {
    *error = "ICE server URL \"" + url + "\": stuns is not supported, use stun or turns";
    return false;
  } else if (url.rfind("stun:", 0) == 0) {
    out->kind = IceServerConfig::kStun;
    rest = url.substr(5);
  } else if (url.rfind("turns:", 0) == 0) {
    out->kind = IceServerConfig::kTurns;
    out->port = 5349;
    out->tcp = true;
    rest = url.substr(6);
  } else if (url.rfind("turn:", 0) == 0) {
    out->kind = IceServerConfig::kTurn;
    rest = url.substr(5);
  } else {
    *error = "ICE server URL \"" + url + "\" must start with stun:, turn: or turns:";
    return false;
  }
  size_t q = rest.find('?');
  if (q != std::string::npos) {
    std::string query = rest.substr(q + 1);
    rest = rest.substr(0, q);
    if (query == "transport=tcp") out->tcp = true;
    else if (query == "transport=udp") out->tcp = false;
    else {
      *error = "ICE server URL \"" + url + "\": unknown query \"" + query + "\"";
      return false;
    }
  }
  size_t colon = rest.rfind(':');
  size_t bracket = rest.rfind(']');
  if (colon != std::string::npos && (bracket == std::string::npos || colon > bracket)) {
    std::string port = rest.substr(colon + 1);
    char* end = nullptr;
    long p = std::strtol(port.c_str(), &end, 10);
    if (port.empty() || *end || p < 1 || p > 65535) {
      *error = "ICE server URL \"" + url + "\": port \"" + port + "\" is not 1..65535";
      return false;
    }
    out->port = static_cast<uint16_t>(p);
    rest = rest.substr(0, colon);
  }
  if (rest.empty()) {
    *error = "ICE server URL \"" + url + "\" has no host";
    return false;
  }
  out->host = rest;
  return true;
}

// TURN over TLS (turns:). libnice's NICE_RELAY_TYPE_TURN_TLS does TLS only in its Google and
// MSOC modes (a fixed pseudo handshake); in RFC 5245 mode it is plain TCP. So for a turns:
// server the engine runs a loopback listener that libnice reaches as TURN over TCP, and carries
// each connection to the TURN server over TLS (GIO, glib-networking). The server's certificate
// is checked against the system's CAs and, failing that, the PEM file in NODE_EXTRA_CA_CERTS
// (the extra CAs the Node side of the process trusts too), with the URL's host as identity.
struct TlsTunnel {
  GMainContext* context = nullptr;
  std::string host;
  uint16_t port = 0;
  std::string id;
  GSocketListener* listener = nullptr;
  GCancellable* cancel = nullptr;
  uint16_t local_port = 0;
  // libnice's end of each tunnelled connection (its local port) -> "ip port" of the TLS
  // connection's local end: a relayed candidate's real related address.
  std::map<uint16_t, std::string> upstream;
  ~TlsTunnel() {
    if (listener) g_object_unref(listener);
    if (cancel) g_object_unref(cancel);
  }
};
using TunnelPtr = std::shared_ptr<TlsTunnel>;

namespace {

struct TunnelConnect {
  TunnelPtr tunnel;
  GSocketConnection* down;
};

gboolean accept_with_extra_cas(GTlsConnection* conn, GTlsCertificate* peer, GTlsCertificateFlags, gpointer) {
  const char* file = std::getenv("NODE_EXTRA_CA_CERTS");
  if (!file || !*file) return FALSE;
  GError* err = nullptr;
  GTlsDatabase* db = g_tls_file_database_new(file, &err);
  if (!db) {
    g_error_free(err);
    return FALSE;
  }
  GSocketConnectable* identity = g_tls_client_connection_get_server_identity(G_TLS_CLIENT_CONNECTION(conn));
  GTlsCertificateFlags f = g_tls_database_verify_chain(db, peer, G_TLS_DATABASE_PURPOSE_AUTHENTICATE_SERVER, identity,
                                                       nullptr, G_TLS_DATABASE_VERIFY_NONE, nullptr, nullptr);
  g_object_unref(db);
  return f == 0;
}

void on_client_event(GSocketClient*, GSocketClientEvent event, GSocketConnectable*, GIOStream* conn, gpointer) {
  if (event == G_SOCKET_CLIENT_TLS_HANDSHAKING && G_IS_TLS_CONNECTION(conn))
    g_signal_connect(conn, "accept-certificate", G_CALLBACK(accept_with_extra_cas), nullptr);
}

std::string socket_address_text(GSocketAddress* a) {
  if (!a || !G_IS_INET_SOCKET_ADDRESS(a)) return {};
  gchar* ip = g_inet_address_to_string(g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(a)));
  std::string out = std::string(ip) + " " + std::to_string(g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(a)));
  g_free(ip);
  return out;
}

void on_spliced(GObject*, GAsyncResult* res, gpointer) {
  GError* err = nullptr;
  if (!g_io_stream_splice_finish(res, &err) && err) g_error_free(err);
}

void on_tunnel_connected(GObject* src, GAsyncResult* res, gpointer p) {
  std::unique_ptr<TunnelConnect> c(static_cast<TunnelConnect*>(p));
  GError* err = nullptr;
  GSocketConnection* up = g_socket_client_connect_to_host_finish(G_SOCKET_CLIENT(src), res, &err);
  if (!up) {
    if (!g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      KVS_WARN(c->tunnel->id, "TURN over TLS to %s:%u: %s", c->tunnel->host.c_str(), c->tunnel->port, err->message);
    g_error_free(err);
    g_io_stream_close(G_IO_STREAM(c->down), nullptr, nullptr);
    g_object_unref(c->down);
    return;
  }
  GSocketAddress* down_peer = g_socket_connection_get_remote_address(c->down, nullptr);
  GSocketAddress* up_local = g_socket_connection_get_local_address(up, nullptr);
  if (down_peer && G_IS_INET_SOCKET_ADDRESS(down_peer))
    c->tunnel->upstream[g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(down_peer))] = socket_address_text(up_local);
  if (down_peer) g_object_unref(down_peer);
  if (up_local) g_object_unref(up_local);
  g_main_context_push_thread_default(c->tunnel->context);
  g_io_stream_splice_async(G_IO_STREAM(c->down), G_IO_STREAM(up),
                           static_cast<GIOStreamSpliceFlags>(G_IO_STREAM_SPLICE_CLOSE_STREAM1 | G_IO_STREAM_SPLICE_CLOSE_STREAM2),
                           G_PRIORITY_DEFAULT, c->tunnel->cancel, on_spliced, nullptr);
  g_main_context_pop_thread_default(c->tunnel->context);
  g_object_unref(up);
  g_object_unref(c->down);
}

void accept_next(const TunnelPtr& t);

void on_tunnel_accepted(GObject* src, GAsyncResult* res, gpointer p) {
  std::unique_ptr<TunnelPtr> tp(static_cast<TunnelPtr*>(p));
  TunnelPtr t = *tp;
  GError* err = nullptr;
  GSocketConnection* down = g_socket_listener_accept_finish(G_SOCKET_LISTENER(src), res, nullptr, &err);
  if (!down) {
    g_error_free(err);  // closed or cancelled
    return;
  }
  accept_next(t);
  GSocketClient* client = g_socket_client_new();
  g_socket_client_set_tls(client, TRUE);
  g_signal_connect(client, "event", G_CALLBACK(on_client_event), nullptr);
  g_main_context_push_thread_default(t->context);
  g_socket_client_connect_to_host_async(client, t->host.c_str(), t->port, t->cancel, on_tunnel_connected,
                                        new TunnelConnect{t, down});
  g_main_context_pop_thread_default(t->context);
  g_object_unref(client);
}

void accept_next(const TunnelPtr& t) {
  g_main_context_push_thread_default(t->context);
  g_socket_listener_accept_async(t->listener, t->cancel, on_tunnel_accepted, new TunnelPtr(t));
  g_main_context_pop_thread_default(t->context);
}

// Starts a tunnel to host:port; returns it listening on 127.0.0.1, or null with *error.
TunnelPtr start_tls_tunnel(GMainContext* context, const std::string& host, uint16_t port, const std::string& id,
                           std::string* error) {
  auto t = std::make_shared<TlsTunnel>();
  t->context = context;
  t->host = host.size() > 2 && host.front() == '[' ? host.substr(1, host.size() - 2) : host;
  t->port = port;
  t->id = id;
  t->listener = g_socket_listener_new();
  t->cancel = g_cancellable_new();
  GInetAddress* lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
  GSocketAddress* sa = g_inet_socket_address_new(lo, 0);
  GSocketAddress* bound = nullptr;
  GError* err = nullptr;
  bool ok = g_socket_listener_add_address(t->listener, sa, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, nullptr, &bound, &err);
  g_object_unref(sa);
  g_object_unref(lo);
  if (!ok) {
    *error = std::string("TURN over TLS: no loopback listener: ") + err->message;
    g_error_free(err);
    return nullptr;
  }
  t->local_port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
  g_object_unref(bound);
  accept_next(t);
  return t;
}

}  // namespace


IceTransport::IceTransport(Listener* listener, GMainContext* context, std::string log_id)
    : listener_(listener), context_(context), id_(std::move(log_id)) {}

IceTransport::~IceTransport() { close(); }

bool IceTransport::init(const IceOptions& options, std::string* error) {
  relay_only_ = options.relay_only;
  agent_ = nice_agent_new_full(context_, NICE_COMPATIBILITY_RFC5245, NICE_AGENT_OPTION_ICE_TRICKLE);
  if (!agent_) {
    *error = "libnice could not create an ICE agent";
    return false;
  }
  g_object_set(agent_, "controlling-mode", options.controlling ? TRUE : FALSE, "force-relay",
               options.relay_only ? TRUE : FALSE, nullptr);
  // A peer that vanishes without a goodbye (no DTLS close_notify, no RTCP to time out) must still
  // be noticed. Keepalives are binding requests (every 25 s), not indications, so an unanswered
  // one fails the component; with 6 retransmissions from 200 ms a request is given up after
  // 25.4 s without an answer, close to RFC 7675's 30 s. A 10 s network freeze survives. libnice's
  // own consent-freshness option is not used: it fails a peer frozen for 10 s.
  g_object_set(agent_, "keepalive-conncheck", TRUE, "stun-max-retransmissions", 6u, nullptr);
  g_object_set(agent_, "ice-tcp", options.tcp_candidates ? TRUE : FALSE, nullptr);
  // Ta, the pacing of connectivity checks: libnice waits one Ta before the first check and 20 ms
  // is its default. 5 ms is RFC 8445's floor (section 14.2); a camera has a handful of pairs, so
  // the faster pacing costs a few packets and brings the first check, and media, 15 ms sooner.
  g_object_set(agent_, "stun-pacing-timer", kCheckPacingMs, nullptr);
  // No UPnP port mapping (libnice's default when built with gupnp, as Debian's is): STUN and TURN
  // do NAT traversal here, and UPnP cost every agent eight more sockets that every loop
  // iteration polls, and SSDP searches, per viewer (docs/send-path.md).
  if (g_object_class_find_property(G_OBJECT_GET_CLASS(agent_), "upnp")) g_object_set(agent_, "upnp", FALSE, nullptr);
  for (const auto& ip : options.local_addresses) {
    NiceAddress addr;
    nice_address_init(&addr);
    if (!nice_address_set_from_string(&addr, ip.c_str())) {
      *error = "local address \"" + ip + "\" is not an IP address";
      return false;
    }
    nice_agent_add_local_address(agent_, &addr);
  }
  stream_ = nice_agent_add_stream(agent_, 1);
  if (!stream_) {
    *error = "libnice could not add an ICE stream";
    return false;
  }
  bool stun_set = false;
  for (const auto& s : options.servers) {
    std::string ip;
    if (!resolve(s.host, &ip)) {
      KVS_WARN(id_, "ICE server %s cannot be resolved; skipped", s.host.c_str());
      continue;
    }
    if (s.kind == IceServerConfig::kStun) {
      if (stun_set) continue;  // libnice takes one STUN server
      g_object_set(agent_, "stun-server", ip.c_str(), "stun-server-port", static_cast<guint>(s.port), nullptr);
      stun_set = true;
    } else {
      NiceRelayType type = s.kind == IceServerConfig::kTurns || s.tcp ? NICE_RELAY_TYPE_TURN_TCP : NICE_RELAY_TYPE_TURN_UDP;
      uint16_t port = s.port;
      if (s.kind == IceServerConfig::kTurns) {
        std::string tunnel_error;
        TunnelPtr tunnel = start_tls_tunnel(context_, s.host, s.port, id_, &tunnel_error);
        if (!tunnel) {
          KVS_WARN(id_, "%s; TURN server %s skipped", tunnel_error.c_str(), s.host.c_str());
          continue;
        }
        tunnels_.push_back(tunnel);
        ip = "127.0.0.1";
        port = tunnel->local_port;
      }
      if (type != NICE_RELAY_TYPE_TURN_UDP) {
        NiceAddress a;
        if (nice_address_set_from_string(&a, ip.c_str())) {
          nice_address_set_port(&a, port);
          tcp_turn_servers_.push_back(address_string(a));
        }
      }
      if (!nice_agent_set_relay_info(agent_, stream_, kComponent, ip.c_str(), port,
                                     s.username.c_str(), s.credential.c_str(), type))
        KVS_WARN(id_, "libnice refused TURN server %s:%u", ip.c_str(), s.port);
    }
  }
  g_signal_connect(agent_, "new-candidate-full", G_CALLBACK(&IceTransport::on_candidate), this);
  g_signal_connect(agent_, "candidate-gathering-done", G_CALLBACK(&IceTransport::on_gathering_done), this);
  g_signal_connect(agent_, "component-state-changed", G_CALLBACK(&IceTransport::on_component_state), this);
  g_signal_connect(agent_, "new-selected-pair-full", G_CALLBACK(&IceTransport::on_selected_pair), this);
  nice_agent_attach_recv(agent_, stream_, kComponent, context_, &IceTransport::on_receive, this);
  return true;
}

void IceTransport::local_credentials(std::string* ufrag, std::string* pwd) const {
  gchar* u = nullptr;
  gchar* p = nullptr;
  if (agent_ && nice_agent_get_local_credentials(agent_, stream_, &u, &p)) {
    *ufrag = u;
    *pwd = p;
  }
  g_free(u);
  g_free(p);
}


std::string IceTransport::candidate_line(NiceCandidate* c) const {
  gchar* sdp = nice_agent_generate_local_candidate_sdp(agent_, c);
  if (!sdp) return {};
  std::string line = sdp;
  g_free(sdp);
  if (line.rfind("a=", 0) == 0) line = line.substr(2);
  if (c->type != NICE_CANDIDATE_TYPE_RELAYED || nice_address_get_port(&c->base_addr) != 0) return line;
  const std::string relayed = address_string(c->addr);
  auto known = relay_related_.find(relayed);
  std::string related = known == relay_related_.end() ? std::string() : known->second;
  if (related.empty()) {
    // The TURN connection this relay came through: libnice keeps it private, so it is found
    // among the process's TCP sockets: connected to one of this transport's TCP/TLS TURN
    // servers, from the candidate's base address, not yet given to another relayed
    // candidate (of any transport); the oldest (lowest descriptor) first.
    std::string fallback;
    std::lock_guard<std::mutex> lock(claimed_related_mutex());
    DIR* dir = opendir("/proc/self/fd");
    int best_fd = -1;
    for (dirent* e = dir ? readdir(dir) : nullptr; e; e = readdir(dir)) {
      char* endp = nullptr;
      long fd = std::strtol(e->d_name, &endp, 10);
      if (!endp || *endp != '\0' || endp == e->d_name) continue;
      int type = 0;
      socklen_t tl = sizeof type;
      if (getsockopt(static_cast<int>(fd), SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_STREAM) continue;
      sockaddr_storage ls{}, rs{};
      socklen_t ll = sizeof ls, rl = sizeof rs;
      if (getsockname(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&ls), &ll) != 0 ||
          getpeername(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&rs), &rl) != 0)
        continue;
      NiceAddress local, remote;
      nice_address_set_from_sockaddr(&local, reinterpret_cast<sockaddr*>(&ls));
      nice_address_set_from_sockaddr(&remote, reinterpret_cast<sockaddr*>(&rs));
      if (!nice_address_equal_no_port(&local, &c->base_addr)) continue;
      bool to_turn = false;
      const std::string peer = address_string(remote);
      for (const auto& server : tcp_turn_servers_) to_turn = to_turn || server == peer;
      if (!to_turn) continue;
      char ip[NICE_ADDRESS_STRING_LEN];
      nice_address_to_string(&local, ip);
      std::string found = std::string(ip) + " " + std::to_string(nice_address_get_port(&local));
      if (claimed_related().count(found)) continue;
      if (best_fd < 0 || fd < best_fd) {
        best_fd = static_cast<int>(fd);
        fallback = found;
      }
    }
    if (dir) closedir(dir);
    if (!fallback.empty()) {
      // Through a TLS tunnel: the related address is the TLS connection's local end.
      const uint16_t libnice_port = static_cast<uint16_t>(std::stoi(fallback.substr(fallback.find(' ') + 1)));
      for (const auto& t : tunnels_) {
        auto up = t->upstream.find(libnice_port);
        if (up != t->upstream.end() && !up->second.empty()) fallback = up->second;
      }
      claimed_related().insert(fallback);
    }
    if (related.empty()) related = fallback;
    if (related.empty()) {
      KVS_WARN(id_, "relayed candidate %s: its TURN connection was not found; related port left as libnice wrote it", relayed.c_str());
      return line;
    }
    relay_related_[relayed] = related;
  }
  const size_t at = line.find(" raddr ");
  if (at == std::string::npos) return line;
  const size_t rport = line.find(" rport ", at);
  const size_t end = rport == std::string::npos ? std::string::npos : line.find(' ', rport + 7);
  const size_t space = related.find(' ');
  return line.substr(0, at) + " raddr " + related.substr(0, space) + " rport " + related.substr(space + 1) +
         (end == std::string::npos ? std::string() : line.substr(end));
}

std::vector<std::string> IceTransport::local_candidates() const {
  std::vector<std::string> out;
  if (!agent_) return out;
  GSList* list = nice_agent_get_local_candidates(agent_, stream_, kComponent);
  for (GSList* i = list; i; i = i->next) {
    auto* c = static_cast<NiceCandidate*>(i->data);
    if (relay_only_ && c->type != NICE_CANDIDATE_TYPE_RELAYED) continue;
    std::string line = candidate_line(c);
    if (!line.empty()) out.push_back(line);
  }
  g_slist_free_full(list, reinterpret_cast<GDestroyNotify>(nice_candidate_free));
  return out;
}

bool IceTransport::set_remote_credentials(const std::string& ufrag, const std::string& pwd) {
  return agent_ && nice_agent_set_remote_credentials(agent_, stream_, ufrag.c_str(), pwd.c_str());
}

bool IceTransport::gather() {
  if (!agent_) return false;
  set_state(State::kGathering);
  return nice_agent_gather_candidates(agent_, stream_);
}

bool IceTransport::add_remote_candidate(const std::string& candidate, std::string* error) {
  if (!agent_) {
    *error = "ICE transport is closed";
    return false;
  }
  std::string line = candidate.rfind("a=", 0) == 0 ? candidate : "a=" + candidate;
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
  NiceCandidate* c = nice_agent_parse_remote_candidate_sdp(agent_, stream_, line.c_str());
  if (!c) {
    *error = line.find(".local ") != std::string::npos
                 ? "mDNS candidate cannot be resolved here: " + candidate
                 : "malformed ICE candidate: " + candidate;
    return false;
  }
  GSList* list = g_slist_append(nullptr, c);
  int added = nice_agent_set_remote_candidates(agent_, stream_, kComponent, list);
  g_slist_free_full(list, reinterpret_cast<GDestroyNotify>(nice_candidate_free));
  if (added < 0) {
    *error = "libnice refused ICE candidate: " + candidate;
    return false;
  }
  return true;
}

void IceTransport::remote_gathering_done() {
  if (agent_) nice_agent_peer_candidate_gathering_done(agent_, stream_);
}

bool IceTransport::restart() {
  if (!agent_) return false;
  bool ok = nice_agent_restart_stream(agent_, stream_);
  refresh_send_path();
  return ok;
}

bool IceTransport::send(const uint8_t* data, size_t size) {
  // Sent whenever libnice has a pair (also while an ICE restart checks new ones).
  if (!agent_) return false;
  return nice_agent_send(agent_, stream_, kComponent, static_cast<guint>(size),
                         reinterpret_cast<const gchar*>(data)) >= 0;
}

void IceTransport::send_batch(Datagram* d, size_t n) {
  size_t next = 0;
  if (send_socket_ && !g_socket_is_closed(send_socket_)) {
    auto out = batcher_.send(g_socket_get_fd(send_socket_), reinterpret_cast<const sockaddr*>(&send_to_),
                             send_to_len_, d, n);
    batch_syscalls_ += out.syscalls;
    batched_datagrams_ += out.sent;
    // A full socket buffer drops the rest, as nice_agent_send would (a slow viewer is never
    // waited for); what a local firewall dropped stays dropped (the batcher went on past it);
    // any other refusal hands the rest to libnice.
    if (out.error == EAGAIN || out.error == EWOULDBLOCK || out.error == ENOBUFS) return;
    if (out.error) KVS_DEBUG(id_, "batched send refused (%s): the rest through libnice", std::strerror(out.error));
    next = out.next;
  }
  for (size_t i = next; i < n; ++i) d[i].sent = send(d[i].data, d[i].size);
}

void IceTransport::refresh_send_path() {
  if (send_socket_) g_object_unref(send_socket_);
  send_socket_ = nullptr;
  send_to_len_ = 0;
  NiceCandidate* l = nullptr;
  NiceCandidate* r = nullptr;
  if (!agent_ || !nice_agent_get_selected_pair(agent_, stream_, kComponent, &l, &r)) return;
  // NULL for a relayed local candidate (TURN wraps each packet) and for TCP pairs (RFC 4571
  // framing): those stay with nice_agent_send.
  GSocket* socket = nice_agent_get_selected_socket(agent_, stream_, kComponent);
  if (!socket) return;
  if (g_socket_get_socket_type(socket) != G_SOCKET_TYPE_DATAGRAM) {
    g_object_unref(socket);
    return;
  }
  std::memset(&send_to_, 0, sizeof send_to_);
  nice_address_copy_to_sockaddr(&r->addr, reinterpret_cast<sockaddr*>(&send_to_));
  switch (send_to_.ss_family) {
    case AF_INET: send_to_len_ = sizeof(sockaddr_in); break;
    case AF_INET6: send_to_len_ = sizeof(sockaddr_in6); break;
    default:
      g_object_unref(socket);
      return;
  }
  send_socket_ = socket;
  KVS_DEBUG(id_, "batched send path to %s (%s pair)", address_string(r->addr).c_str(), candidate_type(l->type));
}

void IceTransport::on_selected_pair(NiceAgent*, guint, guint, void*, void*, gpointer p) {
  static_cast<IceTransport*>(p)->refresh_send_path();
}

void IceTransport::close() {
  if (send_socket_) g_object_unref(send_socket_);
  send_socket_ = nullptr;
  if (!relay_related_.empty()) {
    std::lock_guard<std::mutex> lock(claimed_related_mutex());
    for (const auto& [relayed, related] : relay_related_) claimed_related().erase(related);
    relay_related_.clear();
  }
  for (const auto& t : tunnels_) {
    g_cancellable_cancel(t->cancel);
    g_socket_listener_close(t->listener);
  }
  tunnels_.clear();
  if (!agent_) return;
  g_signal_handlers_disconnect_by_data(agent_, this);
  nice_agent_attach_recv(agent_, stream_, kComponent, context_, nullptr, nullptr);
  // Closing asynchronously lets libnice release TURN allocations (refresh with lifetime 0);
  // the agent is released when that is done.
  nice_agent_close_async(agent_, [](GObject* agent, GAsyncResult*, gpointer) { g_object_unref(agent); },
                         nullptr);
  agent_ = nullptr;
  state_ = State::kClosed;
}

bool IceTransport::selected_pair(std::string* local, std::string* remote, std::string* local_type,
                                 std::string* remote_type) const {
  NiceCandidate* l = nullptr;
  NiceCandidate* r = nullptr;
  if (!agent_ || !nice_agent_get_selected_pair(agent_, stream_, kComponent, &l, &r)) return false;
  *local = address_string(l->addr);
  *remote = address_string(r->addr);
  *local_type = candidate_type(l->type);
  *remote_type = candidate_type(r->type);
  return true;
}

void IceTransport::set_state(State s) {
  if (s == state_) return;
  state_ = s;
  KVS_DEBUG(id_, "ICE %s", to_string(s));
  listener_->on_ice_state(s);
}

void IceTransport::on_candidate(NiceAgent*, void* candidate, gpointer p) {
  auto* self = static_cast<IceTransport*>(p);
  auto* c = static_cast<NiceCandidate*>(candidate);
  if (self->relay_only_ && c->type != NICE_CANDIDATE_TYPE_RELAYED) return;
  std::string line = self->candidate_line(c);
  if (!line.empty()) self->listener_->on_ice_candidate(line);
}

void IceTransport::on_gathering_done(NiceAgent*, guint, gpointer p) {
  static_cast<IceTransport*>(p)->listener_->on_ice_gathering_done();
}

void IceTransport::on_component_state(NiceAgent*, guint, guint, guint state, gpointer p) {
  auto* self = static_cast<IceTransport*>(p);
  self->refresh_send_path();  // a failed or restarted component may have lost or changed its pair
  switch (state) {
    case NICE_COMPONENT_STATE_CONNECTING:
      if (!self->ever_connected_) self->set_state(State::kConnecting);
      break;
    case NICE_COMPONENT_STATE_CONNECTED:
    case NICE_COMPONENT_STATE_READY:
      self->ever_connected_ = true;
      self->set_state(State::kConnected);
      break;
    case NICE_COMPONENT_STATE_FAILED:
      self->set_state(State::kFailed);
      break;
    case NICE_COMPONENT_STATE_DISCONNECTED:
      if (self->ever_connected_) self->set_state(State::kDisconnected);
      break;
    default:
      break;
  }
}

void IceTransport::on_receive(NiceAgent*, guint, guint, guint len, gchar* buf, gpointer p) {
  static_cast<IceTransport*>(p)->listener_->on_ice_packet(reinterpret_cast<const uint8_t*>(buf), len);
}

}  // namespace kvs::rtc
