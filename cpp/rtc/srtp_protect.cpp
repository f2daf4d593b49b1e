#include "srtp_protect.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <cstring>

#include "srtp_session.h"

namespace kvs::rtc {
namespace {

constexpr size_t kKeyLen = 16;
constexpr size_t kAuthKeyLen = 20;  // HMAC-SHA1 session authentication key (RFC 3711 4.3.2)
constexpr size_t kCmTagLen = 10;    // HMAC-SHA1-80
constexpr size_t kGcmTagLen = 16;

// The AES-CM key derivation function (RFC 3711 4.3.1 and 4.3.3, with a key derivation rate of
// 0): the keystream of AES-CTR under the master key from IV = (master salt XOR label at byte 7)
// followed by two zero bytes. A 12-byte AES-GCM master salt is zero-padded to 14 bytes first
// (RFC 7714 11, as libsrtp2 and browsers do).
bool derive(const uint8_t* master_key, const uint8_t* master_salt, size_t salt_len, uint8_t label, uint8_t* out,
            size_t out_len) {
  uint8_t iv[16] = {};
  std::memcpy(iv, master_salt, salt_len);
  iv[7] ^= label;
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  if (!ctx) return false;
  std::vector<uint8_t> zeros(out_len, 0);
  int n = 0;
  bool ok = EVP_EncryptInit_ex(ctx, EVP_aes_128_ctr(), nullptr, master_key, iv) == 1 &&
            EVP_EncryptUpdate(ctx, out, &n, zeros.data(), static_cast<int>(out_len)) == 1 &&
            static_cast<size_t>(n) == out_len;
  EVP_CIPHER_CTX_free(ctx);
  return ok;
}

// Header length with CSRCs and extension (RFC 3550 5.1, 5.3.1), 0 when it does not fit.
size_t header_length(const uint8_t* p, size_t len) {
  if (len < 12 || (p[0] >> 6) != 2) return 0;
  size_t h = 12 + 4 * static_cast<size_t>(p[0] & 0x0f);
  if (p[0] & 0x10) {
    if (h + 4 > len) return 0;
    h += 4 + 4 * ((static_cast<size_t>(p[h + 2]) << 8) | p[h + 3]);
  }
  return h <= len ? h : 0;
}

}  // namespace

std::unique_ptr<RtpProtector> RtpProtector::create(SrtpProfile profile, const uint8_t* key, size_t key_len,
                                                   std::string* error) {
  std::unique_ptr<RtpProtector> p(new RtpProtector());
  p->gcm_ = profile == SrtpProfile::kAeadAes128Gcm;
  size_t salt_len = srtp_salt_length(profile);
  if (key_len != kKeyLen + salt_len) {
    *error = "SRTP key material has the wrong length";
    return nullptr;
  }
  const uint8_t* master_salt = key + kKeyLen;
  uint8_t session_key[kKeyLen];
  uint8_t auth_key[kAuthKeyLen];
  if (!derive(key, master_salt, salt_len, 0x00, session_key, kKeyLen) ||
      !derive(key, master_salt, salt_len, 0x02, p->salt_, salt_len) ||
      (!p->gcm_ && !derive(key, master_salt, salt_len, 0x01, auth_key, kAuthKeyLen))) {
    *error = "SRTP key derivation failed in OpenSSL";
    return nullptr;
  }
  p->cipher_ = EVP_CIPHER_CTX_new();
  if (!p->cipher_ ||
      EVP_EncryptInit_ex(p->cipher_, p->gcm_ ? EVP_aes_128_gcm() : EVP_aes_128_ctr(), nullptr, session_key, nullptr) != 1) {
    *error = "OpenSSL refused the SRTP cipher";
    return nullptr;
  }
  if (!p->gcm_) {
    EVP_MAC* hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    p->mac_ = hmac ? EVP_MAC_CTX_new(hmac) : nullptr;
    EVP_MAC_free(hmac);
    char digest[] = "SHA1";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
    if (!p->mac_ || EVP_MAC_init(p->mac_, auth_key, kAuthKeyLen, params) != 1) {
      *error = "OpenSSL refused HMAC-SHA1 for SRTP";
      return nullptr;
    }
  }
  return p;
}

RtpProtector::~RtpProtector() {
  EVP_CIPHER_CTX_free(cipher_);
  EVP_MAC_CTX_free(mac_);
}

uint64_t RtpProtector::index(uint32_t ssrc, uint16_t seq) {
  Rollover* r = nullptr;
  for (auto& x : rollover_)
    if (x.ssrc == ssrc) r = &x;
  if (!r) {
    rollover_.push_back({ssrc, 0, seq});
    return seq;
  }
  // RFC 3711 3.3.1 / appendix A: the counter the sequence number most likely belongs to.
  uint32_t roc = r->roc;
  if (r->highest < 32768) {
    if (seq > r->highest && seq - r->highest > 32768 && roc > 0) roc -= 1;  // from before the last wrap
  } else if (seq < r->highest - 32768) {
    roc += 1;  // wrapped
  }
  uint64_t idx = (static_cast<uint64_t>(roc) << 16) | seq;
  if (idx > ((static_cast<uint64_t>(r->roc) << 16) | r->highest)) {
    r->roc = roc;
    r->highest = seq;
  }
  return idx;
}

bool RtpProtector::protect(uint8_t* packet, size_t* len) {
  size_t header = header_length(packet, *len);
  if (!header) return false;
  uint32_t ssrc = (static_cast<uint32_t>(packet[8]) << 24) | (packet[9] << 16) | (packet[10] << 8) | packet[11];
  uint16_t seq = static_cast<uint16_t>((packet[2] << 8) | packet[3]);
  uint64_t idx = index(ssrc, seq);
  uint32_t roc = static_cast<uint32_t>(idx >> 16);
  uint8_t* payload = packet + header;
  int payload_len = static_cast<int>(*len - header);
  int n = 0;
  if (gcm_) {
    // RFC 7714 8.1: IV = (00 00 || SSRC || ROC || SEQ) XOR the session salt; AAD = the header.
    uint8_t iv[12] = {0, 0, packet[8], packet[9], packet[10], packet[11],
                      static_cast<uint8_t>(roc >> 24), static_cast<uint8_t>(roc >> 16), static_cast<uint8_t>(roc >> 8),
                      static_cast<uint8_t>(roc), packet[2], packet[3]};
    for (size_t i = 0; i < 12; ++i) iv[i] ^= salt_[i];
    if (EVP_EncryptInit_ex(cipher_, nullptr, nullptr, nullptr, iv) != 1 ||
        EVP_EncryptUpdate(cipher_, nullptr, &n, packet, static_cast<int>(header)) != 1 ||
        (payload_len > 0 && EVP_EncryptUpdate(cipher_, payload, &n, payload, payload_len) != 1) ||
        EVP_EncryptFinal_ex(cipher_, payload + payload_len, &n) != 1 ||
        EVP_CIPHER_CTX_ctrl(cipher_, EVP_CTRL_GCM_GET_TAG, kGcmTagLen, payload + payload_len) != 1)
      return false;
    *len += kGcmTagLen;
    return true;
  }
  // RFC 3711 4.1.1: IV = (salt * 2^16) XOR (SSRC * 2^64) XOR (index * 2^16).
  uint8_t iv[16] = {};
  std::memcpy(iv, salt_, 14);
  for (int i = 0; i < 4; ++i) iv[4 + i] ^= packet[8 + i];
  for (int i = 0; i < 6; ++i) iv[8 + i] ^= static_cast<uint8_t>(idx >> (8 * (5 - i)));
  if (EVP_EncryptInit_ex(cipher_, nullptr, nullptr, nullptr, iv) != 1 ||
      (payload_len > 0 && EVP_EncryptUpdate(cipher_, payload, &n, payload, payload_len) != 1))
    return false;
  // RFC 3711 4.2: HMAC-SHA1 over the packet and the ROC, the first 80 bits appended.
  uint8_t roc_bytes[4] = {static_cast<uint8_t>(roc >> 24), static_cast<uint8_t>(roc >> 16), static_cast<uint8_t>(roc >> 8),
                          static_cast<uint8_t>(roc)};
  uint8_t tag[20];
  size_t tag_len = 0;
  if (EVP_MAC_init(mac_, nullptr, 0, nullptr) != 1 || EVP_MAC_update(mac_, packet, *len) != 1 ||
      EVP_MAC_update(mac_, roc_bytes, sizeof roc_bytes) != 1 || EVP_MAC_final(mac_, tag, &tag_len, sizeof tag) != 1 ||
      tag_len < kCmTagLen)
    return false;
  std::memcpy(packet + *len, tag, kCmTagLen);
  *len += kCmTagLen;
  return true;
}

}  // namespace kvs::rtc
