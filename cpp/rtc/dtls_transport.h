// DTLS 1.2 (RFC 6347) through OpenSSL for DTLS-SRTP (RFC 5764) key exchange, over the ICE
// transport. Runs on the network thread only: records go out through the listener, datagrams
// come in through receive(), retransmission timers are GLib timeouts on the network context.
#pragma once
#include <glib.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "srtp_session.h"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;
typedef struct bio_st BIO;

namespace kvs::rtc {

// The process-wide certificate: ECDSA P-256, self-signed, made once (not per peer).
class Certificate {
 public:
  static const Certificate& instance();
  const std::string& fingerprint_sha256() const { return fingerprint_; }  // "AB:CD:..."
  SSL_CTX* context() const { return ctx_; }

 private:
  Certificate();
  SSL_CTX* ctx_ = nullptr;
  std::string fingerprint_;
};

struct SrtpKeys {
  SrtpProfile profile;
  std::vector<uint8_t> local;   // key || salt for what we send
  std::vector<uint8_t> remote;  // key || salt for what we receive
};

class DtlsTransport {
 public:
  enum class State { kNew, kConnecting, kConnected, kFailed, kClosed };

  // Called on the network thread.
  class Listener {
   public:
    virtual ~Listener() = default;
    virtual void on_dtls_send(const uint8_t* data, size_t size) = 0;
    virtual void on_dtls_connected(const SrtpKeys& keys) = 0;
    virtual void on_dtls_failed(const std::string& reason) = 0;
    virtual void on_dtls_closed() = 0;  // close_notify from the remote peer
    virtual void on_dtls_data(const uint8_t* data, size_t size) {}
  };

  DtlsTransport(Listener* listener, GMainContext* context, std::string log_id, bool client,
                std::string remote_fingerprint_algorithm, std::string remote_fingerprint);
  ~DtlsTransport();
  DtlsTransport(const DtlsTransport&) = delete;
  DtlsTransport& operator=(const DtlsTransport&) = delete;

  void start();  // once ICE is connected; the client sends its ClientHello
  void receive(const uint8_t* data, size_t size);
  bool send(const uint8_t* data, size_t size);  // application data (SCTP)
  void close();  // sends close_notify when connected; idempotent
  State state() const { return state_; }
  // Called by the outgoing BIO: one DTLS datagram to send.
  void emit_datagram(const uint8_t* data, size_t size) { listener_->on_dtls_send(data, size); }
  bool is_client() const { return client_; }

 private:
  static gboolean on_timeout(gpointer self);
  void advance_handshake();
  void schedule_timer();
  void cancel_timer();
  void fail(const std::string& reason);
  bool verify_fingerprint(std::string* error);
  void drain_application_data();

  Listener* listener_;
  GMainContext* context_;
  std::string id_;
  bool client_;
  std::string remote_fp_alg_, remote_fp_;
  SSL* ssl_ = nullptr;
  BIO* in_bio_ = nullptr;   // memory BIO we write received datagrams into
  guint timer_ = 0;
  State state_ = State::kNew;
};

}  // namespace kvs::rtc
