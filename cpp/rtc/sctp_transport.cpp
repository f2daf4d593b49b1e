#include "sctp_transport.h"

#include <arpa/inet.h>
#include <usrsctp.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "log.h"
#include "network_thread.h"

namespace kvs::rtc {
namespace {

// RFC 8831 8 / RFC 8832 8.1
constexpr uint32_t kPpidDcep = 50, kPpidString = 51, kPpidBinary = 53, kPpidStringEmpty = 56, kPpidBinaryEmpty = 57;
constexpr uint8_t kDcepOpen = 0x03, kDcepAck = 0x02;

std::mutex g_mutex;
std::map<uintptr_t, std::weak_ptr<SctpTransport>> g_transports;
uintptr_t g_next_token = 1;

std::shared_ptr<SctpTransport> lookup(uintptr_t token) {
  std::lock_guard<std::mutex> lock(g_mutex);
  auto it = g_transports.find(token);
  return it == g_transports.end() ? nullptr : it->second.lock();
}

// usrsctp thread (or ours): an SCTP packet to send over DTLS.
int on_conn_output(void* addr, void* buffer, size_t length, uint8_t, uint8_t) {
  auto token = reinterpret_cast<uintptr_t>(addr);
  std::vector<uint8_t> data(static_cast<uint8_t*>(buffer), static_cast<uint8_t*>(buffer) + length);
  NetworkThread::instance().post([token, data = std::move(data)]() mutable {
    if (auto t = lookup(token)) t->handle_packet_out(std::move(data));
  });
  return 0;
}

// usrsctp thread (or ours): a message, part of one, or a notification arrived.
int on_receive(struct socket*, union sctp_sockstore, void* data, size_t len, struct sctp_rcvinfo info, int flags,
               void* ulp_info) {
  auto token = reinterpret_cast<uintptr_t>(ulp_info);
  if (!data) return 1;
  std::vector<uint8_t> bytes(static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + len);
  std::free(data);  // usrsctp hands ownership to the callback
  uint16_t sid = info.rcv_sid;
  uint32_t ppid = ntohl(info.rcv_ppid);
  NetworkThread::instance().post([token, bytes = std::move(bytes), sid, ppid, flags]() mutable {
    if (auto t = lookup(token)) t->handle_data(std::move(bytes), sid, ppid, flags);
  });
  return 1;
}

void init_usrsctp() {
  static std::once_flag once;
  std::call_once(once, [] {
    usrsctp_init(0, on_conn_output, nullptr);
    usrsctp_sysctl_set_sctp_ecn_enable(0);
    usrsctp_sysctl_set_sctp_delayed_sack_time_default(20);
  });
}

}  // namespace

std::shared_ptr<SctpTransport> SctpTransport::create(Listener* listener, std::string log_id, bool dtls_client) {
  init_usrsctp();
  std::shared_ptr<SctpTransport> t(new SctpTransport(listener, std::move(log_id), dtls_client));
  std::lock_guard<std::mutex> lock(g_mutex);
  t->token_ = g_next_token++;
  g_transports[t->token_] = t;
  return t;
}

SctpTransport::SctpTransport(Listener* listener, std::string log_id, bool dtls_client)
    : listener_(listener), id_(std::move(log_id)), dtls_client_(dtls_client), next_id_(dtls_client ? 0 : 1) {}

SctpTransport::~SctpTransport() { close(); }

bool SctpTransport::start(uint16_t local_port, uint16_t remote_port, std::string* error) {
  void* addr = reinterpret_cast<void*>(token_);
  usrsctp_register_address(addr);
  sock_ = usrsctp_socket(AF_CONN, SOCK_STREAM, IPPROTO_SCTP, on_receive, nullptr, 0, addr);
  if (!sock_) {
    *error = std::string("usrsctp_socket failed: ") + std::strerror(errno);
    return false;
  }
  usrsctp_set_non_blocking(sock_, 1);
  struct linger lg = {1, 0};
  usrsctp_setsockopt(sock_, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  struct sctp_assoc_value reset = {};
  reset.assoc_id = SCTP_ALL_ASSOC;
  reset.assoc_value = SCTP_ENABLE_RESET_STREAM_REQ;
  usrsctp_setsockopt(sock_, IPPROTO_SCTP, SCTP_ENABLE_STREAM_RESET, &reset, sizeof reset);
  int on = 1;
  usrsctp_setsockopt(sock_, IPPROTO_SCTP, SCTP_NODELAY, &on, sizeof on);
  usrsctp_setsockopt(sock_, IPPROTO_SCTP, SCTP_RECVRCVINFO, &on, sizeof on);
  const uint16_t events[] = {SCTP_ASSOC_CHANGE, SCTP_STREAM_RESET_EVENT};
  for (uint16_t e : events) {
    struct sctp_event ev = {};
    ev.se_assoc_id = SCTP_ALL_ASSOC;
    ev.se_type = e;
    ev.se_on = 1;
    usrsctp_setsockopt(sock_, IPPROTO_SCTP, SCTP_EVENT, &ev, sizeof ev);
  }
  struct sctp_initmsg init = {};
  init.sinit_num_ostreams = 1024;
  init.sinit_max_instreams = 1024;
  usrsctp_setsockopt(sock_, IPPROTO_SCTP, SCTP_INITMSG, &init, sizeof init);
  int buf = 1024 * 1024;
  usrsctp_setsockopt(sock_, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  usrsctp_setsockopt(sock_, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);

  struct sockaddr_conn local = {};
  local.sconn_family = AF_CONN;
  local.sconn_port = htons(local_port);
  local.sconn_addr = addr;
  if (usrsctp_bind(sock_, reinterpret_cast<struct sockaddr*>(&local), sizeof local) < 0) {
    *error = std::string("usrsctp_bind failed: ") + std::strerror(errno);
    return false;
  }
  struct sockaddr_conn remote = local;
  remote.sconn_port = htons(remote_port);
  if (usrsctp_connect(sock_, reinterpret_cast<struct sockaddr*>(&remote), sizeof remote) < 0 && errno != EINPROGRESS) {
    *error = std::string("usrsctp_connect failed: ") + std::strerror(errno);
    return false;
  }
  return true;
}

void SctpTransport::receive(const uint8_t* data, size_t size) {
  if (sock_) usrsctp_conninput(reinterpret_cast<void*>(token_), data, size, 0);
}

void SctpTransport::handle_packet_out(std::vector<uint8_t> data) { listener_->on_sctp_send(data.data(), data.size()); }

void SctpTransport::handle_data(std::vector<uint8_t> data, uint16_t sid, uint32_t ppid, int flags) {
  if (flags & MSG_NOTIFICATION) {
    handle_notification(data);
    return;
  }
  auto& buf = partial_[sid];
  if (buf.size() + data.size() > kMaxMessageSize) {
    KVS_WARN(id_, "data channel %u: message over %zu bytes dropped", sid, kMaxMessageSize);
    buf.clear();
    return;
  }
  buf.insert(buf.end(), data.begin(), data.end());
  if (!(flags & MSG_EOR)) return;  // more of this message to come
  std::vector<uint8_t> msg = std::move(buf);
  partial_.erase(sid);
  switch (ppid) {
    case kPpidDcep: handle_dcep(sid, msg); break;
    case kPpidString: case kPpidStringEmpty:
      listener_->on_channel_message(sid, false, msg.data(), ppid == kPpidStringEmpty ? 0 : msg.size());
      break;
    case kPpidBinary: case kPpidBinaryEmpty:
      listener_->on_channel_message(sid, true, msg.data(), ppid == kPpidBinaryEmpty ? 0 : msg.size());
      break;
    default:
      KVS_WARN(id_, "data channel %u: unknown PPID %u ignored", sid, ppid);
  }
}

void SctpTransport::handle_notification(const std::vector<uint8_t>& msg) {
  if (msg.size() < 8) return;  // sn_type, sn_flags, sn_length
  auto* n = reinterpret_cast<const union sctp_notification*>(msg.data());
  if (n->sn_header.sn_type == SCTP_ASSOC_CHANGE && msg.size() >= sizeof(struct sctp_assoc_change)) {
    if (n->sn_assoc_change.sac_state == SCTP_COMM_UP) {
      connected_ = true;
      KVS_INFO(id_, "SCTP association up");
    } else if (n->sn_assoc_change.sac_state == SCTP_COMM_LOST || n->sn_assoc_change.sac_state == SCTP_SHUTDOWN_COMP) {
      connected_ = false;
    }
  } else if (n->sn_header.sn_type == SCTP_STREAM_RESET_EVENT && msg.size() >= sizeof(struct sctp_stream_reset_event)) {
    const auto& r = n->sn_strreset_event;
    size_t count = (r.strreset_length - sizeof(struct sctp_stream_reset_event)) / sizeof(uint16_t);
    if (!(r.strreset_flags & SCTP_STREAM_RESET_INCOMING_SSN)) return;
    for (size_t i = 0; i < count && sizeof(struct sctp_stream_reset_event) + 2 * (i + 1) <= msg.size(); ++i) {
      uint16_t sid = r.strreset_stream_list[i];
      if (channels_.erase(sid)) listener_->on_channel_closed(sid);
    }
  }
}

void SctpTransport::handle_dcep(uint16_t sid, const std::vector<uint8_t>& msg) {
  if (msg.empty()) return;
  if (msg[0] == kDcepAck) {
    auto it = channels_.find(sid);
    if (it != channels_.end() && !it->second.open) {
      it->second.open = true;
      listener_->on_channel_open(it->second);
    }
    return;
  }
  if (msg[0] != kDcepOpen || msg.size() < 12) {
    KVS_WARN(id_, "data channel %u: malformed DCEP message ignored", sid);
    return;
  }
  // RFC 8832 5.1: type, channel type, priority, reliability, label length, protocol length
  uint8_t type = msg[1];
  uint32_t reliability = static_cast<uint32_t>(msg[4]) << 24 | msg[5] << 16 | msg[6] << 8 | msg[7];
  size_t label_len = static_cast<size_t>(msg[8]) << 8 | msg[9];
  size_t proto_len = static_cast<size_t>(msg[10]) << 8 | msg[11];
  if (12 + label_len + proto_len > msg.size()) {
    KVS_WARN(id_, "data channel %u: DATA_CHANNEL_OPEN with lengths past its end ignored", sid);
    return;
  }
  DataChannelInfo ch;
  ch.id = sid;
  ch.label.assign(reinterpret_cast<const char*>(msg.data() + 12), label_len);
  ch.protocol.assign(reinterpret_cast<const char*>(msg.data() + 12 + label_len), proto_len);
  ch.ordered = !(type & 0x80);
  if ((type & 0x7f) == 0x01) ch.max_retransmits = static_cast<int>(reliability);
  if ((type & 0x7f) == 0x02) ch.max_packet_life_ms = static_cast<int>(reliability);
  ch.open = true;
  channels_[sid] = ch;
  uint8_t ack = kDcepAck;
  std::string error;
  send_raw(sid, kPpidDcep, &ack, 1, nullptr, &error);
  listener_->on_channel_open(ch);
}

int SctpTransport::open_channel(const DataChannelInfo& options, std::string* error) {
  if (!sock_) {
    *error = "data channels are not negotiated on this peer";
    return -1;
  }
  if (options.label.size() > 65535 || options.protocol.size() > 65535) {
    *error = "data channel label or protocol longer than 65535 bytes";
    return -1;
  }
  while (channels_.count(next_id_)) next_id_ += 2;
  if (next_id_ >= 1024) {
    *error = "no data channel id left";
    return -1;
  }
  DataChannelInfo ch = options;
  ch.id = next_id_;
  next_id_ += 2;
  uint8_t type = ch.max_retransmits >= 0 ? 0x01 : ch.max_packet_life_ms >= 0 ? 0x02 : 0x00;
  if (!ch.ordered) type |= 0x80;
  uint32_t rel = ch.max_retransmits >= 0 ? ch.max_retransmits : ch.max_packet_life_ms >= 0 ? ch.max_packet_life_ms : 0;
  std::vector<uint8_t> open = {kDcepOpen, type, 0, 0, static_cast<uint8_t>(rel >> 24), static_cast<uint8_t>(rel >> 16),
                               static_cast<uint8_t>(rel >> 8), static_cast<uint8_t>(rel),
                               static_cast<uint8_t>(ch.label.size() >> 8), static_cast<uint8_t>(ch.label.size()),
                               static_cast<uint8_t>(ch.protocol.size() >> 8), static_cast<uint8_t>(ch.protocol.size())};
  open.insert(open.end(), ch.label.begin(), ch.label.end());
  open.insert(open.end(), ch.protocol.begin(), ch.protocol.end());
  channels_[ch.id] = ch;
  if (!send_raw(ch.id, kPpidDcep, open.data(), open.size(), nullptr, error)) {
    channels_.erase(ch.id);
    return -1;
  }
  return ch.id;
}

bool SctpTransport::send(uint16_t id, bool binary, const uint8_t* data, size_t size, std::string* error) {
  auto it = channels_.find(id);
  if (it == channels_.end()) {
    *error = "no open data channel with id " + std::to_string(id);
    return false;
  }
  if (size > kMaxMessageSize) {
    *error = "data channel message of " + std::to_string(size) + " bytes is over the " +
             std::to_string(kMaxMessageSize) + "-byte limit";
    return false;
  }
  static const uint8_t kZero = 0;
  if (size == 0) return send_raw(id, binary ? kPpidBinaryEmpty : kPpidStringEmpty, &kZero, 1, &it->second, error);
  return send_raw(id, binary ? kPpidBinary : kPpidString, data, size, &it->second, error);
}

bool SctpTransport::send_raw(uint16_t sid, uint32_t ppid, const uint8_t* data, size_t size, const DataChannelInfo* ch,
                             std::string* error) {
  struct sctp_sendv_spa spa = {};
  spa.sendv_flags = SCTP_SEND_SNDINFO_VALID;
  spa.sendv_sndinfo.snd_sid = sid;
  spa.sendv_sndinfo.snd_ppid = htonl(ppid);
  spa.sendv_sndinfo.snd_flags = SCTP_EOR;
  if (ch && !ch->ordered) spa.sendv_sndinfo.snd_flags |= SCTP_UNORDERED;
  if (ch && ch->max_retransmits >= 0) {
    spa.sendv_flags |= SCTP_SEND_PRINFO_VALID;
    spa.sendv_prinfo.pr_policy = SCTP_PR_SCTP_RTX;
    spa.sendv_prinfo.pr_value = static_cast<uint32_t>(ch->max_retransmits);
  } else if (ch && ch->max_packet_life_ms >= 0) {
    spa.sendv_flags |= SCTP_SEND_PRINFO_VALID;
    spa.sendv_prinfo.pr_policy = SCTP_PR_SCTP_TTL;
    spa.sendv_prinfo.pr_value = static_cast<uint32_t>(ch->max_packet_life_ms);
  }
  if (usrsctp_sendv(sock_, data, size, nullptr, 0, &spa, sizeof spa, SCTP_SENDV_SPA, 0) < 0) {
    *error = errno == EWOULDBLOCK ? "data channel send buffer is full" : std::string("SCTP send failed: ") + std::strerror(errno);
    return false;
  }
  return true;
}

void SctpTransport::close_channel(uint16_t id) {
  if (!channels_.erase(id) || !sock_) return;
  // RFC 8831 6.7: closing is a reset of the outgoing stream.
  size_t len = sizeof(struct sctp_reset_streams) + sizeof(uint16_t);
  std::vector<uint8_t> buf(len);
  auto* rs = reinterpret_cast<struct sctp_reset_streams*>(buf.data());
  rs->srs_assoc_id = SCTP_ALL_ASSOC;
  rs->srs_flags = SCTP_STREAM_RESET_OUTGOING;
  rs->srs_number_streams = 1;
  rs->srs_stream_list[0] = id;
  usrsctp_setsockopt(sock_, IPPROTO_SCTP, SCTP_RESET_STREAMS, rs, static_cast<socklen_t>(len));
  listener_->on_channel_closed(id);
}

void SctpTransport::close() {
  if (sock_) {
    usrsctp_shutdown(sock_, SHUT_RDWR);
    usrsctp_close(sock_);
    sock_ = nullptr;
    usrsctp_deregister_address(reinterpret_cast<void*>(token_));
  }
  std::lock_guard<std::mutex> lock(g_mutex);
  g_transports.erase(token_);
}

}  // namespace kvs::rtc
