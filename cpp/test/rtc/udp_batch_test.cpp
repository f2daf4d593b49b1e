// Batched UDP sending (udp_batch.h): how a frame's packets are grouped for UDP GSO, what the
// sendmmsg call carries, the fallbacks when the kernel refuses, and real datagrams through a
// loopback socket pair.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>

#include "udp_batch.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

using namespace kvs::rtc;

namespace {

std::vector<Datagram> datagrams(const std::vector<size_t>& sizes, std::vector<std::vector<uint8_t>>* storage) {
  storage->clear();
  std::vector<Datagram> out;
  for (size_t i = 0; i < sizes.size(); ++i) storage->emplace_back(sizes[i], static_cast<uint8_t>(i + 1));
  for (auto& b : *storage) out.push_back({b.data(), b.size(), false});
  return out;
}

// Records each sendmmsg call; answers from a script (messages taken, or -errno), then takes all.
class FakeOps : public DatagramSocketOps {
 public:
  struct Message {
    std::vector<size_t> iov_sizes;
    int segment = 0;  // UDP_SEGMENT value, 0 when absent
  };
  std::vector<std::vector<Message>> calls;
  std::deque<int> script;

  int sendmmsg(int, mmsghdr* messages, unsigned count) override {
    std::vector<Message> call;
    for (unsigned m = 0; m < count; ++m) {
      Message msg;
      const msghdr& h = messages[m].msg_hdr;
      for (size_t k = 0; k < h.msg_iovlen; ++k) msg.iov_sizes.push_back(h.msg_iov[k].iov_len);
      for (cmsghdr* c = CMSG_FIRSTHDR(const_cast<msghdr*>(&h)); c; c = CMSG_NXTHDR(const_cast<msghdr*>(&h), c)) {
        if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_SEGMENT) {
          uint16_t v;
          std::memcpy(&v, CMSG_DATA(c), sizeof v);
          msg.segment = v;
        }
      }
      call.push_back(msg);
    }
    calls.push_back(call);
    if (script.empty()) return static_cast<int>(count);
    int r = script.front();
    script.pop_front();
    if (r < 0) {
      errno = -r;
      return -1;
    }
    return std::min(r, static_cast<int>(count));
  }
};

sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  return a;
}

}  // namespace

TEST(GsoRuns, EqualSizesWithAShorterLastMakeOneRun) {
  std::vector<std::vector<uint8_t>> s;
  auto d = datagrams({1200, 1200, 1200, 1200, 1200, 1200, 830}, &s);
  auto runs = plan_gso_runs(d.data(), d.size());
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].first, 0u);
  EXPECT_EQ(runs[0].count, 7u);
  EXPECT_EQ(runs[0].segment, 1200u);
}

TEST(GsoRuns, AShorterPacketEndsTheRunAndALongerOneStartsANewOne) {
  std::vector<std::vector<uint8_t>> s;
  // Two NAL units' fragments: 3 + 2, then a small single NAL, then a larger one alone.
  auto d = datagrams({1200, 1200, 400, 1200, 1200, 90, 1100}, &s);
  auto runs = plan_gso_runs(d.data(), d.size());
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[0].first, 0u);
  EXPECT_EQ(runs[0].count, 3u);
  EXPECT_EQ(runs[1].first, 3u);
  EXPECT_EQ(runs[1].count, 3u);
  EXPECT_EQ(runs[1].segment, 1200u);
  EXPECT_EQ(runs[2].first, 6u);
  EXPECT_EQ(runs[2].count, 1u);
}

TEST(GsoRuns, RespectsTheSegmentAndByteLimits) {
  std::vector<std::vector<uint8_t>> s;
  auto d = datagrams(std::vector<size_t>(70, 1000), &s);
  auto runs = plan_gso_runs(d.data(), d.size(), 64, 64000);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].count, 64u);
  EXPECT_EQ(runs[1].first, 64u);
  EXPECT_EQ(runs[1].count, 6u);
  runs = plan_gso_runs(d.data(), d.size(), 64, 10500);
  ASSERT_EQ(runs.size(), 7u);  // 10 + 10 + ... per 10 500 bytes
  EXPECT_EQ(runs[0].count, 10u);
  EXPECT_EQ(runs[6].count, 10u);
}

TEST(GsoRuns, EmptyAndOversizedDatagramsStandAlone) {
  std::vector<std::vector<uint8_t>> s;
  auto d = datagrams({0, 0, 70000, 500, 500}, &s);
  auto runs = plan_gso_runs(d.data(), d.size());
  ASSERT_EQ(runs.size(), 4u);
  EXPECT_EQ(runs[0].count, 1u);
  EXPECT_EQ(runs[1].count, 1u);
  EXPECT_EQ(runs[2].count, 1u);
  EXPECT_EQ(runs[3].count, 2u);
  EXPECT_TRUE(plan_gso_runs(d.data(), 0).empty());
}

TEST(UdpBatchSender, OneCallCarriesGsoRunsAndSingles) {
  std::vector<std::vector<uint8_t>> s;
  auto d = datagrams({1200, 1200, 1200, 700, 300}, &s);
  FakeOps ops;
  UdpBatchSender sender(&ops);
  auto to = loopback(9);
  auto out = sender.send(3, reinterpret_cast<sockaddr*>(&to), sizeof to, d.data(), d.size());
  EXPECT_EQ(out.sent, 5u);
  EXPECT_EQ(out.next, 5u);
  EXPECT_EQ(out.error, 0);
  EXPECT_EQ(out.syscalls, 1u);
  ASSERT_EQ(ops.calls.size(), 1u);
  ASSERT_EQ(ops.calls[0].size(), 2u);
  EXPECT_EQ(ops.calls[0][0].iov_sizes, (std::vector<size_t>{1200, 1200, 1200, 700}));
  EXPECT_EQ(ops.calls[0][0].segment, 1200);
  EXPECT_EQ(ops.calls[0][1].iov_sizes, (std::vector<size_t>{300}));
  EXPECT_EQ(ops.calls[0][1].segment, 0);  // a single datagram carries no UDP_SEGMENT
  for (auto& x : d) EXPECT_TRUE(x.sent);
}

TEST(UdpBatchSender, WithoutGsoEachDatagramIsAMessage) {
  std::vector<std::vector<uint8_t>> s;
  auto d = datagrams({1200, 1200, 500}, &s);
  FakeOps ops;
  UdpBatchSender sender(&ops);
  sender.set_gso(false);
  auto to = loopback(9);
  auto out = sender.send(3, reinterpret_cast<sockaddr*>(&to), sizeof to, d.data(), d.size());
  EXPECT_EQ(out.sent, 3u);
  ASSERT_EQ(ops.calls.size(), 1u);
  ASSERT_EQ(ops.calls[0].size(), 3u);
  for (auto& m : ops.calls[0]) EXPECT_EQ(m.segment, 0);
}

TEST(UdpBatchSender, AGsoRefusalTurnsGsoOffAndResendsAsSingles) {
  for (int error : {EIO, EINVAL, EOPNOTSUPP}) {
    std::vector<std::vector<uint8_t>> s;
    auto d = datagrams({1200, 1200, 1200}, &s);
    FakeOps ops;
    ops.script = {-error};
    UdpBatchSender sender(&ops);
    auto to = loopback(9);
    auto out = sender.send(3, reinterpret_cast<sockaddr*>(&to), sizeof to, d.data(), d.size());
    EXPECT_FALSE(sender.gso()) << error;
    EXPECT_EQ(out.sent, 3u) << error;
    EXPECT_EQ(out.error, 0) << error;
    EXPECT_EQ(out.syscalls, 2u) << error;
    ASSERT_EQ(ops.calls.size(), 2u);
    EXPECT_EQ(ops.calls[1].size(), 3u);  // the same datagrams, one message each
  }
}

TEST(UdpBatchSender, AFullBufferStopsTheBatchWhereTheKernelStopped) {
  std::vector<std::vector<uint8_t>> s;
  auto d = datagrams({1200, 600, 1200, 600, 1200}, &s);
  FakeOps ops;
  ops.script = {1, -EAGAIN};  // first run taken, then the buffer is full
  UdpBatchSender sender(&ops);
  auto to = loopback(9);
  auto out = sender.send(3, reinterpret_cast<sockaddr*>(&to), sizeof to, d.data(), d.size());
  EXPECT_EQ(out.sent, 2u);
  EXPECT_EQ(out.next, 2u);
  EXPECT_EQ(out.error, EAGAIN);
  EXPECT_EQ(out.syscalls, 2u);
  EXPECT_TRUE(sender.gso());  // a full buffer says nothing about GSO
  EXPECT_TRUE(d[0].sent);
  EXPECT_TRUE(d[1].sent);
  EXPECT_FALSE(d[2].sent);
  EXPECT_FALSE(d[4].sent);
}

TEST(UdpBatchSender, AFirewallDropLosesThatMessageOnlyAndTheBatchGoesOn) {
  std::vector<std::vector<uint8_t>> s;
  auto d = datagrams({1200, 600, 1200, 600, 1200}, &s);
  FakeOps ops;
  ops.script = {1, -EPERM};  // the first run taken; netfilter drops the second; the rest pass
  UdpBatchSender sender(&ops);
  auto to = loopback(9);
  auto out = sender.send(3, reinterpret_cast<sockaddr*>(&to), sizeof to, d.data(), d.size());
  EXPECT_EQ(out.error, 0);
  EXPECT_EQ(out.next, d.size());
  EXPECT_EQ(out.dropped, 2u);
  EXPECT_EQ(out.sent, 3u);
  EXPECT_EQ(out.syscalls, 3u);
  EXPECT_TRUE(sender.gso());
  EXPECT_TRUE(d[0].sent && d[1].sent);
  EXPECT_FALSE(d[2].sent || d[3].sent) << "dropped, not sent again";
  EXPECT_TRUE(d[4].sent);
}

TEST(UdpBatchSender, AnotherErrorIsReportedWithTheFirstUnsentDatagram) {
  std::vector<std::vector<uint8_t>> s;
  auto d = datagrams({500, 500}, &s);
  FakeOps ops;
  ops.script = {-ENETUNREACH};
  UdpBatchSender sender(&ops);
  auto to = loopback(9);
  auto out = sender.send(3, reinterpret_cast<sockaddr*>(&to), sizeof to, d.data(), d.size());
  EXPECT_EQ(out.sent, 0u);
  EXPECT_EQ(out.next, 0u);
  EXPECT_EQ(out.error, ENETUNREACH);
  EXPECT_TRUE(sender.gso());  // not a GSO refusal
}

TEST(UdpBatchSender, ManyDatagramsTakeSeveralCalls) {
  std::vector<std::vector<uint8_t>> s;
  std::vector<size_t> sizes;
  for (size_t i = 0; i < 150; ++i) sizes.push_back(100 + i);  // all different: no GSO runs
  auto d = datagrams(sizes, &s);
  FakeOps ops;
  UdpBatchSender sender(&ops);
  auto to = loopback(9);
  auto out = sender.send(3, reinterpret_cast<sockaddr*>(&to), sizeof to, d.data(), d.size());
  EXPECT_EQ(out.sent, 150u);
  EXPECT_EQ(out.syscalls, 3u);  // 64 + 64 + 22 messages
  ASSERT_EQ(ops.calls.size(), 3u);
  EXPECT_EQ(ops.calls[2].size(), 22u);
}

// Real sockets: what arrives is the same datagrams, in order, one by one, whether the kernel
// cut a GSO buffer or not.
TEST(UdpBatchSender, LoopbackDatagramsArriveIntactAndInOrder) {
  for (bool gso : {true, false}) {
    int rx = socket(AF_INET, SOCK_DGRAM, 0), tx = socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_GE(rx, 0);
    ASSERT_GE(tx, 0);
    auto any = loopback(0);
    ASSERT_EQ(bind(rx, reinterpret_cast<sockaddr*>(&any), sizeof any), 0);
    sockaddr_in to{};
    socklen_t len = sizeof to;
    ASSERT_EQ(getsockname(rx, reinterpret_cast<sockaddr*>(&to), &len), 0);
    std::vector<std::vector<uint8_t>> s;
    auto d = datagrams({1200, 1200, 1200, 1200, 517, 1200, 33}, &s);
    UdpBatchSender sender;
    sender.set_gso(gso);
    auto out = sender.send(tx, reinterpret_cast<sockaddr*>(&to), sizeof to, d.data(), d.size());
    EXPECT_EQ(out.sent, d.size()) << "gso " << gso << " error " << std::strerror(out.error);
    EXPECT_EQ(sender.gso(), gso) << "this kernel refused a UDP GSO buffer on loopback";
    for (size_t i = 0; i < d.size(); ++i) {
      pollfd p{rx, POLLIN, 0};
      ASSERT_EQ(poll(&p, 1, 5000), 1) << "datagram " << i << " did not arrive";
      uint8_t buf[2048];
      ssize_t n = recv(rx, buf, sizeof buf, 0);
      ASSERT_EQ(n, static_cast<ssize_t>(d[i].size)) << "datagram " << i << " gso " << gso;
      EXPECT_EQ(std::memcmp(buf, d[i].data, d[i].size), 0) << "datagram " << i;
    }
    close(rx);
    close(tx);
  }
}
