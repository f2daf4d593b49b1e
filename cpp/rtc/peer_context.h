// What every part of one peer reads: its id (the front of its log lines), when the offer came
// (timings are measured from it) and the peer's state. Owned by the PeerConnection, which alone
// writes it; its parts hold a const reference. Network thread only.
#pragma once
#include <openssl/rand.h>

#include <cstdint>
#include <string>

#include "clock.h"
#include "peer_stats.h"

namespace kvs::rtc {

struct PeerContext {
  std::string id;
  int64_t offer_time_us = 0;
  PeerState state = PeerState::kNew;
  double since_offer_ms() const { return (media::monotonic_us() - offer_time_us) / 1000.0; }
};

// A random SSRC, sequence number or offset (RFC 3550 5.1: they start at random).
template <typename T>
T random_value() {
  T v{};
  RAND_bytes(reinterpret_cast<unsigned char*>(&v), sizeof v);
  return v;
}

}  // namespace kvs::rtc
