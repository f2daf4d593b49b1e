// Outbound SRTP for RTP packets (RFC 3711 AES_CM_128_HMAC_SHA1_80, RFC 7714 AEAD_AES_128_GCM)
// through OpenSSL, with the cipher and MAC contexts keyed once per session. Debian's libsrtp2 is
// built on NSS, which creates a PKCS#11 context per packet; protecting every packet of every
// viewer is the engine's largest per-viewer cost after the socket (docs/send-path.md). RTCP,
// and everything inbound, stays with libsrtp2 (srtp_session.h).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

typedef struct evp_cipher_ctx_st EVP_CIPHER_CTX;
typedef struct evp_mac_ctx_st EVP_MAC_CTX;

namespace kvs::rtc {

enum class SrtpProfile : uint16_t;

class RtpProtector {
 public:
  // key = master key (16 bytes) followed by the master salt (14 bytes, 12 for AES-GCM).
  static std::unique_ptr<RtpProtector> create(SrtpProfile profile, const uint8_t* key, size_t key_len,
                                              std::string* error);
  ~RtpProtector();
  RtpProtector(const RtpProtector&) = delete;
  RtpProtector& operator=(const RtpProtector&) = delete;

  // In place: encrypts the payload and appends the tag (10 bytes, 16 for AES-GCM; the buffer
  // needs that much room past *len). False for a packet that is not RTP version 2 or whose
  // header (CSRCs, extension) runs past its end.
  bool protect(uint8_t* packet, size_t* len);

  // The packet index (RFC 3711 3.3.1) for a sequence number of an SSRC: the rollover counter
  // follows the highest sequence number sent, so a wrap counts once and a retransmission of a
  // packet from before the wrap keeps the old counter. Exposed for tests.
  uint64_t index(uint32_t ssrc, uint16_t seq);

 private:
  RtpProtector() = default;
  bool gcm_ = false;
  uint8_t salt_[14] = {};
  EVP_CIPHER_CTX* cipher_ = nullptr;
  EVP_MAC_CTX* mac_ = nullptr;
  struct Rollover {
    uint32_t ssrc;
    uint32_t roc;
    uint16_t highest;
  };
  std::vector<Rollover> rollover_;
};

}  // namespace kvs::rtc
