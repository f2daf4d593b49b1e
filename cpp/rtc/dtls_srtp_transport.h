// DTLS-SRTP (RFC 5764) on one ICE transport: demultiplexes what ICE delivers (RFC 7983) into
// DTLS records, SRTP and SRTCP; keys both SRTP directions from the handshake; protects and sends
// what the senders write. Application data (SCTP) rides on the DTLS association. Network thread
// only: it owns the DtlsTransport and both SRTP sessions, and calls its listener there.
#pragma once
#include <glib.h>

#include <cstdint>
#include <memory>
#include <string>

#include "dtls_transport.h"
#include "ice_transport.h"
#include "peer_stats.h"
#include "srtp_session.h"

namespace kvs::rtc {

class DtlsSrtpTransport : public DtlsTransport::Listener {
 public:
  class Listener {  // network thread
   public:
    virtual ~Listener() = default;
    virtual void on_srtp_ready() = 0;  // DTLS connected, SRTP keyed: media may flow
    virtual void on_dtls_srtp_failed(const std::string& reason) = 0;
    virtual void on_dtls_srtp_closed() = 0;  // close_notify from the remote peer
    virtual void on_rtp(const uint8_t* packet, size_t size) = 0;  // unprotected
    virtual void on_rtcp(uint8_t* packet, size_t size) = 0;       // unprotected
    virtual void on_application_data(const uint8_t* data, size_t size) = 0;
  };

  // `lower` outlives this transport. `client`: our DTLS role.
  DtlsSrtpTransport(Listener* listener, IceTransport* lower, GMainContext* context, std::string log_id, bool client,
                    std::string remote_fingerprint_algorithm, std::string remote_fingerprint);
  DtlsSrtpTransport(const DtlsSrtpTransport&) = delete;
  DtlsSrtpTransport& operator=(const DtlsSrtpTransport&) = delete;

  void start() { dtls_.start(); }  // once ICE is connected; the client sends its ClientHello
  void receive(const uint8_t* data, size_t size);  // what ICE delivered
  bool send_application_data(const uint8_t* data, size_t size) { return dtls_.send(data, size); }
  void close() { dtls_.close(); }
  DtlsTransport::State state() const { return dtls_.state(); }
  bool is_client() const { return dtls_.is_client(); }
  bool ready() const { return srtp_out_.ready(); }
  const std::string& srtp_profile() const { return srtp_profile_; }

  // The send path (docs/send-path.md): SRTP in place (kSrtpMaxTrailer spare bytes), then ICE.
  bool protect_rtp(uint8_t* packet, size_t* len) { return srtp_out_.protect_rtp(packet, len); }
  bool send(const uint8_t* data, size_t size) { return lower_->send(data, size); }
  void send_batch(Datagram* d, size_t n) { lower_->send_batch(d, n); }
  // Protects an RTCP packet in place (kSrtpMaxTrailer spare bytes) and sends it.
  bool send_rtcp(uint8_t* packet, size_t len);

  // DTLS state and role, the SRTP profile, and the SRTP packets and bytes received.
  void add_stats(PeerStats* s) const;

 private:
  // DtlsTransport::Listener
  void on_dtls_send(const uint8_t* data, size_t size) override { lower_->send(data, size); }
  void on_dtls_connected(const SrtpKeys& keys) override;
  void on_dtls_failed(const std::string& reason) override { listener_->on_dtls_srtp_failed(reason); }
  void on_dtls_closed() override { listener_->on_dtls_srtp_closed(); }
  void on_dtls_data(const uint8_t* data, size_t size) override { listener_->on_application_data(data, size); }

  Listener* listener_;
  IceTransport* lower_;
  DtlsTransport dtls_;
  SrtpSession srtp_out_, srtp_in_;
  std::string srtp_profile_;
  uint64_t packets_received_ = 0, bytes_received_ = 0;
};

}  // namespace kvs::rtc
