#include "srtp_session.h"

#include <srtp2/srtp.h>

#include <cstring>
#include <mutex>

#include "srtp_protect.h"

namespace kvs::rtc {
namespace {

}  // namespace

bool srtp_library_init(std::string* error) {
  static std::once_flag once;
  static srtp_err_status_t status = srtp_err_status_ok;
  std::call_once(once, [] { status = srtp_init(); });
  if (status != srtp_err_status_ok) {
    *error = "srtp_init failed with status " + std::to_string(status);
    return false;
  }
  return true;
}

size_t srtp_key_length(SrtpProfile) { return 16; }
size_t srtp_salt_length(SrtpProfile p) { return p == SrtpProfile::kAeadAes128Gcm ? 12 : 14; }

SrtpSession::~SrtpSession() {
  rtp_out_.reset();
  if (session_) srtp_dealloc(session_);
}

bool SrtpSession::init(Direction dir, SrtpProfile profile, const uint8_t* key, size_t key_len,
                       std::string* error) {
  if (!srtp_library_init(error)) return false;
  if (key_len != srtp_key_length(profile) + srtp_salt_length(profile)) {
    *error = "SRTP key material has the wrong length";
    return false;
  }
  srtp_policy_t policy;
  std::memset(&policy, 0, sizeof policy);
  if (profile == SrtpProfile::kAeadAes128Gcm) {
    srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtp);
    srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtcp);
  } else {
    srtp_crypto_policy_set_rtp_default(&policy.rtp);
    srtp_crypto_policy_set_rtcp_default(&policy.rtcp);
  }
  policy.ssrc.type = dir == kOutbound ? ssrc_any_outbound : ssrc_any_inbound;
  policy.ssrc.value = 0;
  policy.key = const_cast<uint8_t*>(key);
  policy.window_size = 1024;
  policy.allow_repeat_tx = 1;  // NACK retransmissions resend the same sequence number
  policy.next = nullptr;
  if (session_) {
    srtp_dealloc(session_);
    session_ = nullptr;
  }
  rtp_out_.reset();
  if (dir == kOutbound && !(rtp_out_ = RtpProtector::create(profile, key, key_len, error))) return false;
  srtp_err_status_t st = srtp_create(&session_, &policy);
  if (st != srtp_err_status_ok) {
    session_ = nullptr;
    *error = "srtp_create failed with status " + std::to_string(st);
    return false;
  }
  return true;
}

bool SrtpSession::protect_rtp(uint8_t* packet, size_t* len) {
  if (rtp_out_) return session_ && rtp_out_->protect(packet, len);
  int n = static_cast<int>(*len);
  if (!session_ || srtp_protect(session_, packet, &n) != srtp_err_status_ok) return false;
  *len = static_cast<size_t>(n);
  return true;
}

bool SrtpSession::protect_rtcp(uint8_t* packet, size_t* len) {
  int n = static_cast<int>(*len);
  if (!session_ || srtp_protect_rtcp(session_, packet, &n) != srtp_err_status_ok) return false;
  *len = static_cast<size_t>(n);
  return true;
}

bool SrtpSession::unprotect_rtp(uint8_t* packet, size_t* len) {
  int n = static_cast<int>(*len);
  if (!session_ || srtp_unprotect(session_, packet, &n) != srtp_err_status_ok) return false;
  *len = static_cast<size_t>(n);
  return true;
}

bool SrtpSession::unprotect_rtcp(uint8_t* packet, size_t* len) {
  int n = static_cast<int>(*len);
  if (!session_ || srtp_unprotect_rtcp(session_, packet, &n) != srtp_err_status_ok) return false;
  *len = static_cast<size_t>(n);
  return true;
}

}  // namespace kvs::rtc
