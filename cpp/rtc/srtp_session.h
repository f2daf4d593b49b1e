// SRTP/SRTCP (RFC 3711, RFC 7714 for AES-GCM) through libsrtp2, keyed from DTLS-SRTP (RFC 5764).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "srtp_protect.h"

struct srtp_ctx_t_;

namespace kvs::rtc {

// DTLS-SRTP protection profiles (RFC 5764 4.1.2, RFC 7714 14.2).
enum class SrtpProfile : uint16_t {
  kAes128CmSha1_80 = 0x0001,
  kAeadAes128Gcm = 0x0007,
};

// Master key + salt lengths of a profile.
size_t srtp_key_length(SrtpProfile p);
size_t srtp_salt_length(SrtpProfile p);

// libsrtp2's one-time initialization (it runs the crypto self-tests: hundreds of ms on small
// boards). Called by the engine's warm-up so the first viewer does not pay for it. Idempotent.
bool srtp_library_init(std::string* error);

// Room an SRTP/SRTCP packet may need past its plaintext size (auth tag, SRTCP index).
constexpr size_t kSrtpMaxTrailer = 144;

// One direction of SRTP: protect (outbound) or unprotect (inbound), any SSRC.
class SrtpSession {
 public:
  enum Direction { kOutbound, kInbound };
  SrtpSession() = default;
  ~SrtpSession();
  SrtpSession(const SrtpSession&) = delete;
  SrtpSession& operator=(const SrtpSession&) = delete;

  // key = master key followed by master salt. Returns false and fills *error on failure.
  bool init(Direction dir, SrtpProfile profile, const uint8_t* key, size_t key_len,
            std::string* error);
  bool ready() const { return session_ != nullptr; }

  // In place: *len grows by the trailer (buffer needs kSrtpMaxTrailer spare bytes) or shrinks.
  // Outbound RTP goes through RtpProtector (srtp_protect.h, OpenSSL); the rest through libsrtp2.
  bool protect_rtp(uint8_t* packet, size_t* len);
  bool protect_rtcp(uint8_t* packet, size_t* len);
  bool unprotect_rtp(uint8_t* packet, size_t* len);
  bool unprotect_rtcp(uint8_t* packet, size_t* len);

 private:
  srtp_ctx_t_* session_ = nullptr;
  std::unique_ptr<RtpProtector> rtp_out_;
};

}  // namespace kvs::rtc
