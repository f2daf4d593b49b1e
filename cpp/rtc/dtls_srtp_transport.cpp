#include "dtls_srtp_transport.h"

#include <algorithm>

#include "rtp.h"

namespace kvs::rtc {

DtlsSrtpTransport::DtlsSrtpTransport(Listener* listener, IceTransport* lower, GMainContext* context,
                                     std::string log_id, bool client, std::string remote_fingerprint_algorithm,
                                     std::string remote_fingerprint)
    : listener_(listener),
      lower_(lower),
      dtls_(this, context, std::move(log_id), client, std::move(remote_fingerprint_algorithm),
            std::move(remote_fingerprint)) {}

void DtlsSrtpTransport::receive(const uint8_t* data, size_t size) {
  PacketClass kind = classify_packet(data, size);
  if (kind == PacketClass::kDtls) {
    dtls_.receive(data, size);
    return;
  }
  if ((kind != PacketClass::kRtp && kind != PacketClass::kRtcp) || !srtp_in_.ready() || size > 1500) return;
  uint8_t buf[1500 + kSrtpMaxTrailer];
  std::copy(data, data + size, buf);
  size_t len = size;
  if (kind == PacketClass::kRtcp) {
    if (srtp_in_.unprotect_rtcp(buf, &len)) listener_->on_rtcp(buf, len);
    return;
  }
  if (!srtp_in_.unprotect_rtp(buf, &len)) return;
  ++packets_received_;
  bytes_received_ += len;
  listener_->on_rtp(buf, len);
}

bool DtlsSrtpTransport::send_rtcp(uint8_t* packet, size_t len) {
  return srtp_out_.protect_rtcp(packet, &len) && lower_->send(packet, len);
}

void DtlsSrtpTransport::on_dtls_connected(const SrtpKeys& keys) {
  srtp_profile_ = keys.profile == SrtpProfile::kAeadAes128Gcm ? "SRTP_AEAD_AES_128_GCM" : "SRTP_AES128_CM_SHA1_80";
  std::string error;
  if (!srtp_out_.init(SrtpSession::kOutbound, keys.profile, keys.local.data(), keys.local.size(), &error) ||
      !srtp_in_.init(SrtpSession::kInbound, keys.profile, keys.remote.data(), keys.remote.size(), &error)) {
    listener_->on_dtls_srtp_failed("SRTP: " + error);
    return;
  }
  listener_->on_srtp_ready();
}

void DtlsSrtpTransport::add_stats(PeerStats* s) const {
  switch (dtls_.state()) {
    case DtlsTransport::State::kNew: s->dtls_state = "new"; break;
    case DtlsTransport::State::kConnecting: s->dtls_state = "connecting"; break;
    case DtlsTransport::State::kConnected: s->dtls_state = "connected"; break;
    case DtlsTransport::State::kFailed: s->dtls_state = "failed"; break;
    case DtlsTransport::State::kClosed: s->dtls_state = "closed"; break;
  }
  s->dtls_role = dtls_.is_client() ? "client" : "server";
  s->srtp_profile = srtp_profile_;
  s->packets_received = packets_received_;
  s->bytes_received = bytes_received_;
}

}  // namespace kvs::rtc
