#include "peer_error.h"

namespace kvs::rtc {

const char* to_string(ErrorCode c) {
  switch (c) {
    case ErrorCode::kSdpParse: return "ERR_SDP_PARSE";
    case ErrorCode::kSdpUnsupported: return "ERR_SDP_UNSUPPORTED";
    case ErrorCode::kInvalidArg: return "ERR_INVALID_ARG";
    case ErrorCode::kInvalidState: return "ERR_INVALID_STATE";
    case ErrorCode::kIce: return "ERR_ICE";
    case ErrorCode::kDtls: return "ERR_DTLS";
    case ErrorCode::kClosed: return "ERR_CLOSED";
  }
  return "ERR_UNKNOWN";
}

}  // namespace kvs::rtc
