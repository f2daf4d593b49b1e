// SDP (RFC 8866) as used by WebRTC (RFC 8829 JSEP, RFC 8843 BUNDLE): a parser tolerant of what
// real stacks send, a writer, and the H.264 payload choice (RFC 6184 section 8.1).
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace kvs::rtc {

// Why an SDP was refused: kParse = the text is not valid SDP; kUnsupported = valid but nothing
// we can answer (no H.264 with packetization-mode=1, no DTLS fingerprint, ...).
class SdpError : public std::runtime_error {
 public:
  enum Kind { kParse, kUnsupported };
  SdpError(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

struct RtpCodec {
  int payload_type = -1;
  std::string name;         // as written, e.g. "H264", "opus", "rtx"
  int clock_rate = 0;
  int channels = 0;         // 0 when absent
  std::string fmtp;         // parameters after "a=fmtp:<pt> "
  std::vector<std::string> rtcp_fb;  // e.g. "nack", "nack pli", "ccm fir", "goog-remb", "transport-cc"

  // fmtp "k=v;k=v" as a map (keys lower-cased).
  std::map<std::string, std::string> fmtp_params() const;
};

struct Extmap {
  int id = 0;
  std::string direction;  // "" when absent
  std::string uri;
};

struct SsrcAttr {
  uint32_t ssrc = 0;
  std::string attribute;  // "cname:xyz", "msid:a b"
};

struct MediaSection {
  std::string kind;   // "video", "audio", "application", or anything else the offer said
  uint16_t port = 9;
  std::string proto;  // "UDP/TLS/RTP/SAVPF", "UDP/DTLS/SCTP", ...
  std::vector<std::string> formats;
  std::string connection = "IN IP4 0.0.0.0";
  std::string mid;
  std::string direction;  // sendrecv|sendonly|recvonly|inactive; "" = not written (sendrecv)
  std::vector<RtpCodec> codecs;  // in m-line order
  std::vector<Extmap> extmaps;
  std::vector<SsrcAttr> ssrcs;
  std::vector<std::string> ssrc_groups;  // "FID 1 2"
  std::string msid;
  std::string ice_ufrag, ice_pwd;
  std::vector<std::string> ice_options;
  std::string fingerprint_algorithm;  // lower case, e.g. "sha-256"
  std::string fingerprint;            // upper-case hex with colons
  std::string setup;                  // actpass|active|passive
  std::vector<std::string> candidates;  // "candidate:..." without "a="
  bool end_of_candidates = false;
  bool rtcp_mux = false;
  bool rtcp_rsize = false;
  int sctp_port = -1;
  int max_message_size = -1;
  std::vector<std::string> extra;  // attribute lines written verbatim (without "a=")

  bool bundle_only = false;  // a=bundle-only (RFC 8843 6): port 0 yet part of the BUNDLE group

  bool rejected() const { return port == 0 && !bundle_only; }
  const RtpCodec* codec(int payload_type) const;
};

struct SessionDescription {
  uint64_t session_id = 0;
  uint64_t session_version = 2;
  std::vector<std::string> bundle_mids;  // a=group:BUNDLE
  bool ice_lite = false;
  std::vector<MediaSection> media;
};

// Parses an SDP. Session-level ICE credentials, fingerprint, setup and ice-options are copied
// into every media section that lacks its own. Accepts LF or CRLF line ends.
// Throws SdpError(kParse) naming the line that is wrong.
SessionDescription parse_sdp(std::string_view text);

// Writes CRLF-terminated SDP.
std::string write_sdp(const SessionDescription& sdp);

// The H.264 profile we send: constrained baseline unless told otherwise.
struct H264Choice {
  int payload_type = -1;
  std::string fmtp;
  std::vector<std::string> rtcp_fb;
  int rtx_payload_type = -1;  // the offer's RTX for the chosen type, -1 when none
};

// Chooses the H.264 payload type with packetization-mode=1 that best matches a constrained
// baseline stream. Returns nullopt when there is none.
std::optional<H264Choice> choose_h264(const MediaSection& m);

// Parses a "candidate:..." or "a=candidate:..." line enough to validate it (foundation,
// component, transport, priority, address, port, typ). Returns false if malformed.
bool is_valid_candidate(std::string_view line);

}  // namespace kvs::rtc
