// ICE (RFC 8445) with trickle (RFC 8838) through libnice: one stream, one component
// (BUNDLE + rtcp-mux). Runs on the network thread: the agent is bound to its GMainContext.
#pragma once
#include <glib.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gio/gio.h>
#include <sys/socket.h>

#include "udp_batch.h"

typedef struct _NiceAgent NiceAgent;
typedef struct _NiceCandidate NiceCandidate;

namespace kvs::rtc {

struct TlsTunnel;  // TURN over TLS for libnice (ice_transport.cpp)

struct IceServerConfig {
  enum Kind { kStun, kTurn, kTurns } kind = kStun;
  std::string host;
  uint16_t port = 3478;
  bool tcp = false;  // turn:...?transport=tcp
  std::string username, credential;
};

// Parses "stun:host[:port]", "turn:host[:port][?transport=udp|tcp]", "turns:host[:port]...".
// Returns false and fills *error naming what is wrong.
bool parse_ice_server_url(const std::string& url, IceServerConfig* out, std::string* error);

struct IceOptions {
  std::vector<IceServerConfig> servers;
  bool relay_only = false;
  std::vector<std::string> local_addresses;  // empty: every interface
  bool controlling = false;
  // Host TCP candidates (RFC 6544). Off by default: a remote TCP candidate makes libnice's
  // controlling agent fall back from aggressive to regular nomination, which costs an extra
  // check round (about 40 ms on loopback) before media for every viewer. TURN over TCP does not
  // need them.
  bool tcp_candidates = false;
};

class IceTransport {
 public:
  enum class State { kNew, kGathering, kConnecting, kConnected, kFailed, kDisconnected, kClosed };

  // Called on the network thread.
  class Listener {
   public:
    virtual ~Listener() = default;
    virtual void on_ice_candidate(const std::string& candidate) = 0;  // "candidate:..."
    virtual void on_ice_gathering_done() = 0;
    virtual void on_ice_state(State state) = 0;
    virtual void on_ice_packet(const uint8_t* data, size_t size) = 0;
  };

  IceTransport(Listener* listener, GMainContext* context, std::string log_id);
  ~IceTransport();
  IceTransport(const IceTransport&) = delete;
  IceTransport& operator=(const IceTransport&) = delete;

  // Creates the agent and stream; returns false and fills *error when libnice refuses.
  bool init(const IceOptions& options, std::string* error);
  void local_credentials(std::string* ufrag, std::string* pwd) const;
  // Every local candidate gathered so far, as "candidate:..." lines (for an answer after a restart).
  std::vector<std::string> local_candidates() const;
  bool set_remote_credentials(const std::string& ufrag, const std::string& pwd);
  bool gather();
  // Adds a remote "candidate:..." (with or without "a="). Returns false when it is malformed.
  bool add_remote_candidate(const std::string& candidate, std::string* error);
  void remote_gathering_done();
  // ICE restart (RFC 8445 9): new local credentials, checks start again.
  bool restart();
  bool send(const uint8_t* data, size_t size);
  // Sends d[0..n) in order and marks each datagram that left (docs/send-path.md). On a UDP pair
  // with a local socket (host, server- or peer-reflexive) they go in one sendmmsg call, runs of
  // equal size as UDP GSO; on a relayed or TCP pair, with no pair, or when the socket refuses
  // the batch with anything but a full buffer, through nice_agent_send one by one.
  void send_batch(Datagram* d, size_t n);
  // Fast-path counters: sendmmsg calls made, and datagrams that left through them.
  uint64_t batch_syscalls() const { return batch_syscalls_; }
  uint64_t batched_datagrams() const { return batched_datagrams_; }
  void close();
  State state() const { return state_; }
  // "host"/"srflx"/"prflx"/"relay" and addresses of the selected pair, when there is one.
  bool selected_pair(std::string* local, std::string* remote, std::string* local_type,
                     std::string* remote_type) const;

 private:
  static void on_candidate(NiceAgent*, void* candidate, gpointer self);
  static void on_gathering_done(NiceAgent*, guint stream, gpointer self);
  static void on_component_state(NiceAgent*, guint stream, guint component, guint state,
                                 gpointer self);
  static void on_receive(NiceAgent*, guint stream, guint component, guint len, gchar* buf,
                         gpointer self);
  void set_state(State s);
  static void on_selected_pair(NiceAgent*, guint stream, guint component, void* local, void* remote,
                               gpointer self);
  // Re-reads the selected pair: the socket and address the batched path sends with, or none.
  void refresh_send_path();
  // The SDP line of a local candidate ("candidate:...", no "a="). libnice writes "rport 9"
  // for a relayed candidate reached over TCP or TLS (its base socket had no port when it was
  // made); this writes the real local address of that TURN connection instead.
  std::string candidate_line(NiceCandidate* c) const;

  Listener* listener_;
  GMainContext* context_;
  std::string id_;
  NiceAgent* agent_ = nullptr;
  guint stream_ = 0;
  State state_ = State::kNew;
  bool relay_only_ = false;
  bool ever_connected_ = false;
  // Related address written for each TCP/TLS relayed candidate, by its relayed address: the
  // same line every time it is written, and one TURN connection per candidate.
  mutable std::map<std::string, std::string> relay_related_;
  std::vector<std::string> tcp_turn_servers_;  // "ip:port" of the TCP and TLS TURN servers
  std::vector<std::shared_ptr<TlsTunnel>> tunnels_;  // one per turns: server
  // The batched send path: libnice's socket of the selected pair (a reference held) and the
  // remote address, while the pair is a UDP one with a local base socket.
  GSocket* send_socket_ = nullptr;
  sockaddr_storage send_to_{};
  socklen_t send_to_len_ = 0;
  UdpBatchSender batcher_;
  uint64_t batch_syscalls_ = 0, batched_datagrams_ = 0;
};

const char* to_string(IceTransport::State s);

}  // namespace kvs::rtc
