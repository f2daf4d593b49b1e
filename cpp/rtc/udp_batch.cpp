#include "udp_batch.h"

#include <netinet/in.h>
#include <netinet/udp.h>

#include <cerrno>
#include <cstring>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103  // linux/udp.h; older libc headers lack it
#endif

namespace kvs::rtc {
namespace {

constexpr size_t kControlWords = (CMSG_SPACE(sizeof(uint16_t)) + sizeof(uint64_t) - 1) / sizeof(uint64_t);

DatagramSocketOps& kernel_ops() {
  static DatagramSocketOps ops;
  return ops;
}

// Errors that mean "this GSO buffer cannot go", not "this socket cannot send".
bool gso_refusal(int error) { return error == EIO || error == EINVAL || error == EOPNOTSUPP || error == ENOPROTOOPT; }

}  // namespace

int DatagramSocketOps::sendmmsg(int fd, mmsghdr* messages, unsigned count) {
  int r;
  do r = ::sendmmsg(fd, messages, count, MSG_DONTWAIT);
  while (r < 0 && errno == EINTR);
  return r;
}

std::vector<GsoRun> plan_gso_runs(const Datagram* d, size_t n, size_t max_segments, size_t max_bytes) {
  std::vector<GsoRun> runs;
  size_t i = 0;
  while (i < n) {
    GsoRun run{i, 1, d[i].size};
    size_t bytes = d[i].size;
    if (run.segment > 0 && run.segment <= max_bytes) {
      // Equal sizes extend the run; a shorter one ends it (it is the run's last).
      while (i + run.count < n && run.count < max_segments) {
        size_t next = d[i + run.count].size;
        if (next == 0 || next > run.segment || bytes + next > max_bytes) break;
        bytes += next;
        ++run.count;
        if (next < run.segment) break;
      }
    }
    runs.push_back(run);
    i += run.count;
  }
  return runs;
}

UdpBatchSender::UdpBatchSender(DatagramSocketOps* ops) : ops_(ops ? ops : &kernel_ops()) {}

UdpBatchSender::Outcome UdpBatchSender::send(int fd, const sockaddr* to, socklen_t to_len, Datagram* d, size_t n) {
  Outcome out;
  size_t i = 0;
  while (i < n) {
    // The messages of this call: GSO runs, or one datagram each.
    runs_.clear();
    if (gso_) {
      runs_ = plan_gso_runs(d + i, n - i);
      for (auto& r : runs_) r.first += i;
    } else {
      for (size_t k = i; k < n && runs_.size() < kMaxBatchMessages; ++k) runs_.push_back({k, 1, d[k].size});
    }
    if (runs_.size() > kMaxBatchMessages) runs_.resize(kMaxBatchMessages);
    size_t count = runs_.size(), datagrams = 0;
    for (const auto& r : runs_) datagrams += r.count;
    messages_.assign(count, mmsghdr{});
    iov_.resize(datagrams);
    control_.assign(count * kControlWords, 0);
    size_t v = 0;
    for (size_t m = 0; m < count; ++m) {
      const GsoRun& r = runs_[m];
      msghdr& h = messages_[m].msg_hdr;
      h.msg_name = const_cast<sockaddr*>(to);
      h.msg_namelen = to_len;
      h.msg_iov = &iov_[v];
      h.msg_iovlen = r.count;
      for (size_t k = 0; k < r.count; ++k, ++v) {
        iov_[v].iov_base = const_cast<uint8_t*>(d[r.first + k].data);
        iov_[v].iov_len = d[r.first + k].size;
      }
      if (r.count > 1) {
        h.msg_control = &control_[m * kControlWords];
        h.msg_controllen = CMSG_SPACE(sizeof(uint16_t));
        cmsghdr* c = CMSG_FIRSTHDR(&h);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t segment = static_cast<uint16_t>(r.segment);
        std::memcpy(CMSG_DATA(c), &segment, sizeof segment);
      }
    }
    int r = ops_->sendmmsg(fd, messages_.data(), static_cast<unsigned>(count));
    ++out.syscalls;
    if (r > 0) {
      // The kernel took the first r messages; a refusal of the next one shows on the next call.
      for (size_t m = 0; m < static_cast<size_t>(r) && m < count; ++m)
        for (size_t k = 0; k < runs_[m].count; ++k) d[runs_[m].first + k].sent = true;
      size_t taken = 0;
      for (size_t m = 0; m < static_cast<size_t>(r) && m < count; ++m) taken += runs_[m].count;
      out.sent += taken;
      i += taken;
      continue;
    }
    int error = r == 0 ? EAGAIN : errno;
    if (error == EPERM) {
      out.dropped += runs_[0].count;
      i += runs_[0].count;
      continue;
    }
    if (gso_ && runs_[0].count > 1 && gso_refusal(error)) {
      gso_ = false;  // and send the same datagrams again one by one
      continue;
    }
    out.next = i;
    out.error = error;
    return out;
  }
  out.next = n;
  return out;
}

}  // namespace kvs::rtc
