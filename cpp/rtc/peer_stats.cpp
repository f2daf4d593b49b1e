#include "peer_stats.h"

namespace kvs::rtc {

const char* to_string(PeerState s) {
  switch (s) {
    case PeerState::kNew: return "new";
    case PeerState::kConnecting: return "connecting";
    case PeerState::kConnected: return "connected";
    case PeerState::kDisconnected: return "disconnected";
    case PeerState::kFailed: return "failed";
    case PeerState::kClosed: return "closed";
  }
  return "unknown";
}

}  // namespace kvs::rtc
