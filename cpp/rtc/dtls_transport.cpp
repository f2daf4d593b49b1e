#include "dtls_transport.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "log.h"

namespace kvs::rtc {
namespace {

constexpr int kDtlsMtu = 1200;

// Retransmission timer of a handshake flight: 100 ms, then doubling up to 60 s. OpenSSL's
// default starts at 1 s, so one lost ClientHello cost a second of time to first frame.
unsigned int dtls_retransmit_us(SSL*, unsigned int previous_us) {
  constexpr unsigned int kInitialUs = 100000, kMaxUs = 60000000;
  return previous_us == 0 ? kInitialUs : std::min(previous_us * 2, kMaxUs);
}
constexpr char kSrtpProfiles[] = "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80";
constexpr char kCiphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305:"
    "ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA";

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  if (!e) return "no OpenSSL error queued";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

std::string hex_fingerprint(const unsigned char* md, unsigned len) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    if (i) out.push_back(':');
    out.push_back(hex[md[i] >> 4]);
    out.push_back(hex[md[i] & 0xf]);
  }
  return out;
}

// "sha-256" (SDP, RFC 8122) -> the OpenSSL digest.
const EVP_MD* digest_for(const std::string& sdp_name) {
  if (sdp_name == "sha-1") return EVP_sha1();
  if (sdp_name == "sha-224") return EVP_sha224();
  if (sdp_name == "sha-256") return EVP_sha256();
  if (sdp_name == "sha-384") return EVP_sha384();
  if (sdp_name == "sha-512") return EVP_sha512();
  return nullptr;
}

int verify_any(int, X509_STORE_CTX*) { return 1; }  // checked against the SDP fingerprint instead

// Outgoing records: one BIO write is one datagram, handed to the ICE transport at once.
BIO_METHOD* out_bio_method();

int dtls_bio_write(BIO* bio, const char* data, int len) {
  auto* self = static_cast<DtlsTransport*>(BIO_get_data(bio));
  if (self && len > 0) self->emit_datagram(reinterpret_cast<const uint8_t*>(data), len);
  return len;
}

long out_bio_ctrl(BIO*, int cmd, long, void*) {
  switch (cmd) {
    case BIO_CTRL_FLUSH: return 1;
    case BIO_CTRL_DGRAM_QUERY_MTU: return 0;
    case BIO_CTRL_WPENDING:
    case BIO_CTRL_PENDING: return 0;
    default: return 0;
  }
}

int out_bio_create(BIO* bio) {
  BIO_set_init(bio, 1);
  BIO_set_data(bio, nullptr);
  return 1;
}

BIO_METHOD* out_bio_method() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_TYPE_SOURCE_SINK | BIO_get_new_index(), "kvs-edge dtls out");
    BIO_meth_set_write(m, dtls_bio_write);
    BIO_meth_set_ctrl(m, out_bio_ctrl);
    BIO_meth_set_create(m, out_bio_create);
    return m;
  }();
  return method;
}

}  // namespace

const Certificate& Certificate::instance() {
  static const Certificate cert;  // thread-safe, once per process
  return cert;
}

Certificate::Certificate() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  if (!key) throw std::runtime_error("cannot generate the ECDSA P-256 key: " + openssl_error());
  X509* x509 = X509_new();
  X509_set_version(x509, 2);
  uint64_t serial = 0;
  RAND_bytes(reinterpret_cast<unsigned char*>(&serial), sizeof serial);
  ASN1_INTEGER_set_uint64(X509_get_serialNumber(x509), serial >> 1);
  X509_gmtime_adj(X509_getm_notBefore(x509), -86400);
  X509_gmtime_adj(X509_getm_notAfter(x509), 365L * 86400);
  X509_set_pubkey(x509, key);
  X509_NAME* name = X509_get_subject_name(x509);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("kvs-edge"), -1, -1, 0);
  X509_set_issuer_name(x509, name);
  if (!X509_sign(x509, key, EVP_sha256()))
    throw std::runtime_error("cannot sign the DTLS certificate: " + openssl_error());

  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned md_len = 0;
  X509_digest(x509, EVP_sha256(), md, &md_len);
  fingerprint_ = hex_fingerprint(md, md_len);

  ctx_ = SSL_CTX_new(DTLS_method());
  SSL_CTX_set_min_proto_version(ctx_, DTLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx_, DTLS1_2_VERSION);
  SSL_CTX_use_certificate(ctx_, x509);
  SSL_CTX_use_PrivateKey(ctx_, key);
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_any);
  SSL_CTX_set_cipher_list(ctx_, kCiphers);
  SSL_CTX_set1_groups_list(ctx_, "P-256:X25519:P-384");
  SSL_CTX_set_read_ahead(ctx_, 1);
  SSL_CTX_set_options(ctx_, SSL_OP_NO_QUERY_MTU | SSL_OP_NO_TICKET);
  SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_OFF);
  if (SSL_CTX_set_tlsext_use_srtp(ctx_, kSrtpProfiles) != 0)  // 0 means success here
    throw std::runtime_error("OpenSSL refused the SRTP profiles: " + openssl_error());
  X509_free(x509);
  EVP_PKEY_free(key);
}

DtlsTransport::DtlsTransport(Listener* listener, GMainContext* context, std::string log_id,
                             bool client, std::string remote_fp_alg, std::string remote_fp)
    : listener_(listener),
      context_(context),
      id_(std::move(log_id)),
      client_(client),
      remote_fp_alg_(std::move(remote_fp_alg)),
      remote_fp_(std::move(remote_fp)) {
  ssl_ = SSL_new(Certificate::instance().context());
  in_bio_ = BIO_new(BIO_s_mem());
  BIO_set_mem_eof_return(in_bio_, -1);
  BIO* out = BIO_new(out_bio_method());
  BIO_set_data(out, this);
  SSL_set_bio(ssl_, in_bio_, out);
  DTLS_set_link_mtu(ssl_, kDtlsMtu);
  DTLS_set_timer_cb(ssl_, &dtls_retransmit_us);
  if (client_) SSL_set_connect_state(ssl_);
  else SSL_set_accept_state(ssl_);
}

DtlsTransport::~DtlsTransport() {
  cancel_timer();
  if (ssl_) {
    BIO_set_data(SSL_get_wbio(ssl_), nullptr);
    SSL_free(ssl_);  // frees both BIOs
  }
}

void DtlsTransport::start() {
  if (state_ != State::kNew) return;
  state_ = State::kConnecting;
  KVS_DEBUG(id_, "DTLS handshake starts as %s", client_ ? "client" : "server");
  advance_handshake();
}

void DtlsTransport::receive(const uint8_t* data, size_t size) {
  if (state_ == State::kFailed || state_ == State::kClosed) return;
  if (state_ == State::kNew) start();
  BIO_write(in_bio_, data, static_cast<int>(size));
  if (state_ == State::kConnecting) advance_handshake();
  else if (state_ == State::kConnected) drain_application_data();
}

bool DtlsTransport::send(const uint8_t* data, size_t size) {
  if (state_ != State::kConnected) return false;
  return SSL_write(ssl_, data, static_cast<int>(size)) == static_cast<int>(size);
}

void DtlsTransport::close() {
  cancel_timer();
  if (state_ == State::kConnected) SSL_shutdown(ssl_);
  if (state_ != State::kFailed) state_ = State::kClosed;
}

void DtlsTransport::advance_handshake() {
  ERR_clear_error();
  int r = SSL_do_handshake(ssl_);
  if (r == 1) {
    cancel_timer();
    std::string error;
    if (!verify_fingerprint(&error)) {
      fail(error);
      return;
    }
    const SRTP_PROTECTION_PROFILE* prof = SSL_get_selected_srtp_profile(ssl_);
    if (!prof) {
      fail("the remote peer negotiated no SRTP protection profile (use_srtp)");
      return;
    }
    SrtpKeys keys;
    keys.profile = static_cast<SrtpProfile>(prof->id);
    if (prof->id != SRTP_AES128_CM_SHA1_80 && prof->id != SRTP_AEAD_AES_128_GCM) {
      fail("unsupported SRTP profile " + std::string(prof->name));
      return;
    }
    size_t kl = srtp_key_length(keys.profile), sl = srtp_salt_length(keys.profile);
    std::vector<uint8_t> material(2 * (kl + sl));
    static const char kLabel[] = "EXTRACTOR-dtls_srtp";  // RFC 5764 4.2
    if (SSL_export_keying_material(ssl_, material.data(), material.size(), kLabel,
                                   sizeof kLabel - 1, nullptr, 0, 0) != 1) {
      fail("cannot export DTLS-SRTP keying material: " + openssl_error());
      return;
    }
    // client_key | server_key | client_salt | server_salt
    const uint8_t* ck = material.data();
    const uint8_t* sk = ck + kl;
    const uint8_t* cs = sk + kl;
    const uint8_t* ss = cs + sl;
    auto join = [&](const uint8_t* k, const uint8_t* s) {
      std::vector<uint8_t> v(k, k + kl);
      v.insert(v.end(), s, s + sl);
      return v;
    };
    keys.local = client_ ? join(ck, cs) : join(sk, ss);
    keys.remote = client_ ? join(sk, ss) : join(ck, cs);
    state_ = State::kConnected;
    KVS_INFO(id_, "DTLS connected (%s, %s)", SSL_get_cipher(ssl_), prof->name);
    listener_->on_dtls_connected(keys);
    drain_application_data();
    return;
  }
  int err = SSL_get_error(ssl_, r);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
    schedule_timer();
    return;
  }
  fail("DTLS handshake failed: " + openssl_error());
}

void DtlsTransport::drain_application_data() {
  uint8_t buf[16384];
  for (;;) {
    int n = SSL_read(ssl_, buf, sizeof buf);
    if (n > 0) {
      listener_->on_dtls_data(buf, static_cast<size_t>(n));
      continue;
    }
    int err = SSL_get_error(ssl_, n);
    if (err == SSL_ERROR_ZERO_RETURN) {
      KVS_INFO(id_, "DTLS close_notify received");
      state_ = State::kClosed;
      listener_->on_dtls_closed();
    }
    ERR_clear_error();
    return;
  }
}

bool DtlsTransport::verify_fingerprint(std::string* error) {
  X509* peer = SSL_get1_peer_certificate(ssl_);
  if (!peer) {
    *error = "the remote peer sent no DTLS certificate";
    return false;
  }
  const EVP_MD* md = digest_for(remote_fp_alg_);
  unsigned char buf[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  bool ok = md && X509_digest(peer, md, buf, &len) && hex_fingerprint(buf, len) == remote_fp_;
  X509_free(peer);
  if (!md) *error = "unsupported fingerprint hash \"" + remote_fp_alg_ + "\"";
  else if (!ok) *error = "the remote DTLS certificate does not match the SDP fingerprint";
  return ok;
}

void DtlsTransport::schedule_timer() {
  cancel_timer();
  struct timeval tv;
  if (DTLSv1_get_timeout(ssl_, &tv) != 1) return;
  guint ms = static_cast<guint>(tv.tv_sec * 1000 + tv.tv_usec / 1000);
  GSource* src = g_timeout_source_new(ms ? ms : 1);
  g_source_set_callback(src, &DtlsTransport::on_timeout, this, nullptr);
  timer_ = g_source_attach(src, context_);
  g_source_unref(src);
}

void DtlsTransport::cancel_timer() {
  if (!timer_) return;
  GSource* src = g_main_context_find_source_by_id(context_, timer_);
  if (src) g_source_destroy(src);
  timer_ = 0;
}

gboolean DtlsTransport::on_timeout(gpointer p) {
  auto* self = static_cast<DtlsTransport*>(p);
  self->timer_ = 0;
  if (self->state_ != State::kConnecting) return G_SOURCE_REMOVE;
  if (DTLSv1_handle_timeout(self->ssl_) < 0) {
    self->fail("DTLS handshake timed out");
    return G_SOURCE_REMOVE;
  }
  self->schedule_timer();
  return G_SOURCE_REMOVE;
}

void DtlsTransport::fail(const std::string& reason) {
  cancel_timer();
  if (state_ == State::kFailed) return;
  state_ = State::kFailed;
  KVS_WARN(id_, "%s", reason.c_str());
  listener_->on_dtls_failed(reason);
}

}  // namespace kvs::rtc
