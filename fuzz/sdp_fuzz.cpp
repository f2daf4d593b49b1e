// libFuzzer target: the SDP parser, writer and H.264 choice on untrusted offers.
// Invariant: whatever parses, writes, and what it writes parses again to the same sections.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "sdp.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  kvs::rtc::is_valid_candidate(text);
  try {
    kvs::rtc::SessionDescription sdp = kvs::rtc::parse_sdp(text);
    for (const auto& m : sdp.media) {
      (void)kvs::rtc::choose_h264(m);
      for (const auto& c : m.codecs) (void)c.fmtp_params();
      for (const auto& c : m.candidates) kvs::rtc::is_valid_candidate(c);
    }
    std::string written = kvs::rtc::write_sdp(sdp);
    kvs::rtc::SessionDescription again = kvs::rtc::parse_sdp(written);
    if (again.media.size() != sdp.media.size()) std::abort();
  } catch (const kvs::rtc::SdpError&) {
  }
  return 0;
}
