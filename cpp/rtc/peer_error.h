// The errors a peer connection reports: a stable code (to_string gives the one JavaScript sees
// as `code`) and a message that names the input at fault. Value types; any thread.
#pragma once
#include <string>

namespace kvs::rtc {

enum class ErrorCode { kSdpParse, kSdpUnsupported, kInvalidArg, kInvalidState, kIce, kDtls, kClosed };
const char* to_string(ErrorCode c);

struct PeerError {
  ErrorCode code;
  std::string message;
};

}  // namespace kvs::rtc
