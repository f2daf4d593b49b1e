// Batched UDP sending for the media fast path (docs/send-path.md): the packets of one video frame
// to one viewer leave in one sendmmsg(2) call instead of one sendmsg(2) each, and runs of
// equal-size packets go as one UDP GSO buffer (UDP_SEGMENT, Linux 4.18+) that the kernel (or the
// NIC) cuts into datagrams. Pure socket code: IceTransport decides when it may be used.
#pragma once
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace kvs::rtc {

struct Datagram {
  const uint8_t* data = nullptr;
  size_t size = 0;
  bool sent = false;  // set when the kernel took it
};

// A run of consecutive datagrams one GSO send can carry: all of the run's size except the last,
// which may be shorter (the kernel cuts the buffer every `segment` bytes).
struct GsoRun {
  size_t first = 0, count = 0, segment = 0;
};

constexpr size_t kMaxGsoSegments = 64;     // UDP_MAX_SEGMENTS in the kernel
constexpr size_t kMaxGsoBytes = 64000;     // under the 16-bit IP/UDP length with headers
constexpr size_t kMaxBatchMessages = 64;   // messages per sendmmsg call

// Splits d[0..n) into runs, in order; a datagram of size 0 or over max_bytes is a run of its own.
std::vector<GsoRun> plan_gso_runs(const Datagram* d, size_t n, size_t max_segments = kMaxGsoSegments,
                                  size_t max_bytes = kMaxGsoBytes);

// The one system call the batch sender makes; tests replace it.
class DatagramSocketOps {
 public:
  virtual ~DatagramSocketOps() = default;
  // As sendmmsg(2): messages sent, or -1 with errno set.
  virtual int sendmmsg(int fd, mmsghdr* messages, unsigned count);
};

class UdpBatchSender {
 public:
  explicit UdpBatchSender(DatagramSocketOps* ops = nullptr);

  struct Outcome {
    size_t sent = 0;      // datagrams the kernel took (a prefix of the batch)
    size_t syscalls = 0;  // sendmmsg calls made
    size_t next = 0;      // first datagram not sent (n when all were)
    int error = 0;        // errno of the refusal that stopped the batch
    // Datagrams of messages a local firewall refused (EPERM: a netfilter DROP verdict). They
    // are lost like any dropped packet, as nice_agent_send's would be: not sent another way,
    // and the batch goes on with the next message.
    size_t dropped = 0;
  };

  // Sends d[0..n) in order to `to` on the datagram socket fd; marks each sent one. Stops at the
  // first datagram the kernel refuses and reports its errno. A GSO buffer the kernel rejects
  // (EIO: no checksum offload on the route; EINVAL: a segment over the path MTU; EOPNOTSUPP /
  // ENOPROTOOPT: a kernel without UDP_SEGMENT) turns GSO off for this sender and is sent again
  // as single datagrams.
  Outcome send(int fd, const sockaddr* to, socklen_t to_len, Datagram* d, size_t n);

  bool gso() const { return gso_; }
  void set_gso(bool on) { gso_ = on; }

 private:
  DatagramSocketOps* ops_;
  bool gso_ = true;
  std::vector<mmsghdr> messages_;
  std::vector<iovec> iov_;
  std::vector<uint64_t> control_;  // one aligned cmsg slot per message
  std::vector<GsoRun> runs_;
};

}  // namespace kvs::rtc
