#include "sdp.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <sstream>

namespace kvs::rtc {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t next = s.find(sep, pos);
    if (next == std::string_view::npos) next = s.size();
    std::string_view part = s.substr(pos, next - pos);
    if (!part.empty()) out.push_back(part);
    pos = next + 1;
  }
  return out;
}

template <typename T>
bool parse_int(std::string_view s, T* out) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

[[noreturn]] void fail(size_t line_no, std::string_view line, const std::string& why) {
  std::string shown(line.substr(0, 80));
  throw SdpError(SdpError::kParse,
                 "SDP line " + std::to_string(line_no) + " (\"" + shown + "\"): " + why);
}

// Splits "name:value" at the first ':'; value empty when there is none.
std::pair<std::string_view, std::string_view> attribute(std::string_view a) {
  size_t colon = a.find(':');
  if (colon == std::string_view::npos) return {a, {}};
  return {a.substr(0, colon), a.substr(colon + 1)};
}

RtpCodec* find_codec(MediaSection& m, int pt) {
  for (auto& c : m.codecs)
    if (c.payload_type == pt) return &c;
  return nullptr;
}

// RFC 8839 5.6 separates ice-options with spaces; libdatachannel writes commas. Accept both.
void add_ice_options(std::string_view value, std::vector<std::string>* out) {
  for (auto word : split(value, ' '))
    for (auto o : split(word, ',')) out->emplace_back(o);
}

struct SessionDefaults {
  std::string ice_ufrag, ice_pwd, fingerprint_algorithm, fingerprint, setup;
  std::vector<std::string> ice_options;
};

void parse_media_attribute(MediaSection& m, std::string_view a, size_t line_no,
                           std::string_view line) {
  auto [name, value] = attribute(a);
  if (name == "mid") {
    m.mid = std::string(value);
  } else if (name == "sendrecv" || name == "sendonly" || name == "recvonly" || name == "inactive") {
    m.direction = std::string(name);
  } else if (name == "rtpmap") {
    // a=rtpmap:<pt> <name>/<clock>[/<channels>]
    size_t sp = value.find(' ');
    int pt;
    if (sp == std::string_view::npos || !parse_int(value.substr(0, sp), &pt))
      fail(line_no, line, "rtpmap needs \"<payload type> <encoding>/<clock rate>\"");
    auto parts = split(value.substr(sp + 1), '/');
    int clock = 0, channels = 0;
    if (parts.size() < 2 || !parse_int(parts[1], &clock))
      fail(line_no, line, "rtpmap encoding must be \"<name>/<clock rate>\"");
    if (parts.size() > 2 && !parse_int(parts[2], &channels))
      fail(line_no, line, "rtpmap channel count is not a number");
    RtpCodec* c = find_codec(m, pt);
    if (!c) return;  // rtpmap for a payload type not on the m-line: ignored
    c->name = std::string(parts[0]);
    c->clock_rate = clock;
    c->channels = channels;
  } else if (name == "fmtp") {
    size_t sp = value.find(' ');
    int pt;
    if (sp == std::string_view::npos || !parse_int(value.substr(0, sp), &pt))
      fail(line_no, line, "fmtp needs \"<payload type> <parameters>\"");
    if (RtpCodec* c = find_codec(m, pt)) c->fmtp = std::string(trim(value.substr(sp + 1)));
  } else if (name == "rtcp-fb") {
    size_t sp = value.find(' ');
    if (sp == std::string_view::npos) fail(line_no, line, "rtcp-fb needs \"<payload type> <type>\"");
    std::string_view pts = value.substr(0, sp);
    std::string fb(trim(value.substr(sp + 1)));
    if (pts == "*") {
      for (auto& c : m.codecs) c.rtcp_fb.push_back(fb);
    } else {
      int pt;
      if (!parse_int(pts, &pt)) fail(line_no, line, "rtcp-fb payload type is not a number");
      if (RtpCodec* c = find_codec(m, pt)) c->rtcp_fb.push_back(fb);
    }
  } else if (name == "extmap") {
    size_t sp = value.find(' ');
    if (sp == std::string_view::npos) fail(line_no, line, "extmap needs \"<id> <uri>\"");
    std::string_view idpart = value.substr(0, sp);
    Extmap e;
    size_t slash = idpart.find('/');
    if (slash != std::string_view::npos) {
      e.direction = std::string(idpart.substr(slash + 1));
      idpart = idpart.substr(0, slash);
    }
    if (!parse_int(idpart, &e.id) || e.id < 1 || e.id > 255)
      fail(line_no, line, "extmap id must be 1..255");
    std::string_view rest = trim(value.substr(sp + 1));
    size_t sp2 = rest.find(' ');
    e.uri = std::string(sp2 == std::string_view::npos ? rest : rest.substr(0, sp2));
    m.extmaps.push_back(std::move(e));
  } else if (name == "ssrc") {
    size_t sp = value.find(' ');
    SsrcAttr s;
    if (!parse_int(value.substr(0, sp == std::string_view::npos ? value.size() : sp), &s.ssrc))
      fail(line_no, line, "ssrc is not a 32-bit number");
    if (sp != std::string_view::npos) s.attribute = std::string(trim(value.substr(sp + 1)));
    m.ssrcs.push_back(std::move(s));
  } else if (name == "ssrc-group") {
    m.ssrc_groups.emplace_back(value);
  } else if (name == "msid") {
    m.msid = std::string(value);
  } else if (name == "ice-ufrag") {
    m.ice_ufrag = std::string(trim(value));
  } else if (name == "ice-pwd") {
    m.ice_pwd = std::string(trim(value));
  } else if (name == "ice-options") {
    add_ice_options(value, &m.ice_options);
  } else if (name == "fingerprint") {
    size_t sp = value.find(' ');
    if (sp == std::string_view::npos) fail(line_no, line, "fingerprint needs \"<hash> <hex>\"");
    m.fingerprint_algorithm = lower(value.substr(0, sp));
    m.fingerprint = upper(trim(value.substr(sp + 1)));
  } else if (name == "setup") {
    m.setup = std::string(trim(value));
  } else if (name == "candidate") {
    m.candidates.push_back(std::string(trim(a)));
  } else if (name == "end-of-candidates") {
    m.end_of_candidates = true;
  } else if (name == "rtcp-mux") {
    m.rtcp_mux = true;
  } else if (name == "bundle-only") {
    m.bundle_only = true;
  } else if (name == "rtcp-rsize") {
    m.rtcp_rsize = true;
  } else if (name == "sctp-port") {
    if (!parse_int(trim(value), &m.sctp_port)) fail(line_no, line, "sctp-port is not a number");
  } else if (name == "max-message-size") {
    if (!parse_int(trim(value), &m.max_message_size))
      fail(line_no, line, "max-message-size is not a number");
  } else if (name == "sctpmap") {
    // Old-style data channel offers: a=sctpmap:5000 webrtc-datachannel 1024
    auto parts = split(value, ' ');
    if (!parts.empty()) parse_int(parts[0], &m.sctp_port);
  } else {
    m.extra.emplace_back(a);
  }
}

}  // namespace

std::map<std::string, std::string> RtpCodec::fmtp_params() const {
  std::map<std::string, std::string> out;
  for (auto kv : split(fmtp, ';')) {
    kv = trim(kv);
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos) {
      out[lower(kv)] = "";
    } else {
      out[lower(trim(kv.substr(0, eq)))] = std::string(trim(kv.substr(eq + 1)));
    }
  }
  return out;
}

const RtpCodec* MediaSection::codec(int payload_type) const {
  for (auto& c : codecs)
    if (c.payload_type == payload_type) return &c;
  return nullptr;
}

SessionDescription parse_sdp(std::string_view text) {
  if (trim(text).empty()) throw SdpError(SdpError::kParse, "SDP is empty");
  SessionDescription sdp;
  SessionDefaults defaults;
  MediaSection* m = nullptr;
  size_t line_no = 0;
  bool saw_version = false;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (trim(line).empty()) continue;
    if (line.size() < 2 || line[1] != '=' || !std::isalpha(static_cast<unsigned char>(line[0])))
      fail(line_no, line, "not a \"<type>=<value>\" line");
    char type = line[0];
    std::string_view value = line.substr(2);
    if (!saw_version) {
      if (type != 'v' || trim(value) != "0") fail(line_no, line, "an SDP must start with \"v=0\"");
      saw_version = true;
      continue;
    }
    switch (type) {
      case 'o': {
        auto parts = split(value, ' ');
        if (parts.size() != 6) fail(line_no, line, "origin needs 6 fields");
        parse_int(parts[1], &sdp.session_id);  // non-numeric ids exist in the wild: ignored
        parse_int(parts[2], &sdp.session_version);
        break;
      }
      case 'm': {
        auto parts = split(value, ' ');
        if (parts.size() < 3) fail(line_no, line, "media line needs \"<media> <port> <proto> <fmt>...\"");
        MediaSection section;
        section.kind = std::string(parts[0]);
        std::string_view port = parts[1];
        size_t slash = port.find('/');
        if (slash != std::string_view::npos) port = port.substr(0, slash);
        if (!parse_int(port, &section.port)) fail(line_no, line, "media port is not 0..65535");
        section.proto = std::string(parts[2]);
        for (size_t i = 3; i < parts.size(); ++i) {
          section.formats.emplace_back(parts[i]);
          int pt;
          if (section.proto.find("RTP") != std::string::npos) {
            if (!parse_int(parts[i], &pt) || pt < 0 || pt > 127)
              fail(line_no, line, "RTP payload type must be 0..127");
            RtpCodec c;
            c.payload_type = pt;
            section.codecs.push_back(c);
          }
        }
        sdp.media.push_back(std::move(section));
        m = &sdp.media.back();
        break;
      }
      case 'c':
        if (m) m->connection = std::string(trim(value));
        break;
      case 'a': {
        if (m) {
          parse_media_attribute(*m, value, line_no, line);
          break;
        }
        auto [name, v] = attribute(value);
        if (name == "group") {
          auto parts = split(v, ' ');
          if (!parts.empty() && parts[0] == "BUNDLE")
            for (size_t i = 1; i < parts.size(); ++i) sdp.bundle_mids.emplace_back(parts[i]);
        } else if (name == "ice-ufrag") {
          defaults.ice_ufrag = std::string(trim(v));
        } else if (name == "ice-pwd") {
          defaults.ice_pwd = std::string(trim(v));
        } else if (name == "ice-options") {
          add_ice_options(v, &defaults.ice_options);
        } else if (name == "ice-lite") {
          sdp.ice_lite = true;
        } else if (name == "fingerprint") {
          size_t sp = v.find(' ');
          if (sp == std::string_view::npos) fail(line_no, line, "fingerprint needs \"<hash> <hex>\"");
          defaults.fingerprint_algorithm = lower(v.substr(0, sp));
          defaults.fingerprint = upper(trim(v.substr(sp + 1)));
        } else if (name == "setup") {
          defaults.setup = std::string(trim(v));
        }
        break;
      }
      default:
        break;  // s=, t=, b=, i=, ... carry nothing we answer
    }
  }
  if (!saw_version) throw SdpError(SdpError::kParse, "SDP has no \"v=0\" line");
  if (sdp.media.empty()) throw SdpError(SdpError::kParse, "SDP has no media section (m=)");
  for (size_t i = 0; i < sdp.media.size(); ++i) {
    auto& s = sdp.media[i];
    if (s.ice_ufrag.empty()) s.ice_ufrag = defaults.ice_ufrag;
    if (s.ice_pwd.empty()) s.ice_pwd = defaults.ice_pwd;
    if (s.ice_options.empty()) s.ice_options = defaults.ice_options;
    if (s.fingerprint.empty()) {
      s.fingerprint = defaults.fingerprint;
      s.fingerprint_algorithm = defaults.fingerprint_algorithm;
    }
    if (s.setup.empty()) s.setup = defaults.setup;
    if (s.mid.empty()) s.mid = std::to_string(i);  // pre-JSEP offers: index as mid
    // Drop codecs without rtpmap whose static payload type we cannot name (RFC 3551 table 5).
    for (auto& c : s.codecs) {
      if (!c.name.empty()) continue;
      if (c.payload_type == 0) { c.name = "PCMU"; c.clock_rate = 8000; }
      if (c.payload_type == 8) { c.name = "PCMA"; c.clock_rate = 8000; }
    }
  }
  return sdp;
}

std::string write_sdp(const SessionDescription& sdp) {
  std::ostringstream o;
  o << "v=0\r\n";
  o << "o=- " << sdp.session_id << ' ' << sdp.session_version << " IN IP4 127.0.0.1\r\n";
  o << "s=-\r\n";
  o << "t=0 0\r\n";
  if (!sdp.bundle_mids.empty()) {
    o << "a=group:BUNDLE";
    for (auto& mid : sdp.bundle_mids) o << ' ' << mid;
    o << "\r\n";
  }
  if (sdp.ice_lite) o << "a=ice-lite\r\n";
  o << "a=msid-semantic: WMS *\r\n";
  for (auto& m : sdp.media) {
    o << "m=" << m.kind << ' ' << m.port << ' ' << m.proto;
    for (auto& f : m.formats) o << ' ' << f;
    o << "\r\n";
    o << "c=" << m.connection << "\r\n";
    if (!m.mid.empty()) o << "a=mid:" << m.mid << "\r\n";
    if (m.bundle_only) o << "a=bundle-only\r\n";
    if (!m.ice_ufrag.empty()) o << "a=ice-ufrag:" << m.ice_ufrag << "\r\n";
    if (!m.ice_pwd.empty()) o << "a=ice-pwd:" << m.ice_pwd << "\r\n";
    if (m.port == 0) {
      // Rejected: some stacks (GStreamer webrtcbin 1.22) still want the transport attributes.
      if (!m.fingerprint.empty())
        o << "a=fingerprint:" << m.fingerprint_algorithm << ' ' << m.fingerprint << "\r\n";
      if (!m.setup.empty()) o << "a=setup:" << m.setup << "\r\n";
      continue;
    }
    if (!m.ice_options.empty()) {
      o << "a=ice-options:";
      for (size_t i = 0; i < m.ice_options.size(); ++i) o << (i ? " " : "") << m.ice_options[i];
      o << "\r\n";
    }
    if (!m.fingerprint.empty())
      o << "a=fingerprint:" << m.fingerprint_algorithm << ' ' << m.fingerprint << "\r\n";
    if (!m.setup.empty()) o << "a=setup:" << m.setup << "\r\n";
    if (!m.direction.empty()) o << "a=" << m.direction << "\r\n";
    if (!m.msid.empty()) o << "a=msid:" << m.msid << "\r\n";
    if (m.rtcp_mux) o << "a=rtcp-mux\r\n";
    if (m.rtcp_rsize) o << "a=rtcp-rsize\r\n";
    for (auto& e : m.extmaps) {
      o << "a=extmap:" << e.id;
      if (!e.direction.empty()) o << '/' << e.direction;
      o << ' ' << e.uri << "\r\n";
    }
    for (auto& c : m.codecs) {
      if (c.name.empty()) continue;
      o << "a=rtpmap:" << c.payload_type << ' ' << c.name << '/' << c.clock_rate;
      if (c.channels > 0) o << '/' << c.channels;
      o << "\r\n";
      for (auto& fb : c.rtcp_fb) o << "a=rtcp-fb:" << c.payload_type << ' ' << fb << "\r\n";
      if (!c.fmtp.empty()) o << "a=fmtp:" << c.payload_type << ' ' << c.fmtp << "\r\n";
    }
    if (m.sctp_port >= 0) o << "a=sctp-port:" << m.sctp_port << "\r\n";
    if (m.max_message_size >= 0) o << "a=max-message-size:" << m.max_message_size << "\r\n";
    for (auto& g : m.ssrc_groups) o << "a=ssrc-group:" << g << "\r\n";
    for (auto& s : m.ssrcs) o << "a=ssrc:" << s.ssrc << ' ' << s.attribute << "\r\n";
    for (auto& x : m.extra) o << "a=" << x << "\r\n";
    for (auto& c : m.candidates) o << "a=" << c << "\r\n";
    if (m.end_of_candidates) o << "a=end-of-candidates\r\n";
  }
  return o.str();
}

std::optional<H264Choice> choose_h264(const MediaSection& m) {
  int best_score = -1;
  const RtpCodec* best = nullptr;
  for (auto& c : m.codecs) {
    if (lower(c.name) != "h264" || c.clock_rate != 90000) continue;
    auto params = c.fmtp_params();
    auto mode = params.find("packetization-mode");
    if (mode == params.end() || mode->second != "1") continue;
    // RFC 6184 8.1: profile-level-id = profile_idc, profile-iop, level_idc (hex). Absent = 42000A.
    std::string plid = params.count("profile-level-id") ? lower(params["profile-level-id"]) : "42000a";
    unsigned value = 0;
    if (plid.size() != 6 || std::from_chars(plid.data(), plid.data() + 6, value, 16).ec != std::errc())
      continue;
    unsigned profile_idc = value >> 16, iop = (value >> 8) & 0xff;
    int score;
    if (profile_idc == 0x42 && (iop & 0x40)) score = 4;        // constrained baseline
    else if (profile_idc == 0x42) score = 3;                   // baseline decodes CB
    else if (profile_idc == 0x4d && (iop & 0x80)) score = 3;   // main with constraint_set1
    else if (profile_idc == 0x4d || profile_idc == 0x64) score = 1;  // main/high decoders decode CB
    else continue;
    if (score > best_score) {
      best_score = score;
      best = &c;
    }
  }
  if (!best) return std::nullopt;
  H264Choice choice;
  choice.payload_type = best->payload_type;
  choice.fmtp = best->fmtp;
  choice.rtcp_fb = best->rtcp_fb;
  for (auto& c : m.codecs) {
    if (lower(c.name) != "rtx") continue;
    auto params = c.fmtp_params();
    if (params.count("apt") && params["apt"] == std::to_string(best->payload_type))
      choice.rtx_payload_type = c.payload_type;
  }
  return choice;
}

bool is_valid_candidate(std::string_view line) {
  if (line.substr(0, 2) == "a=") line.remove_prefix(2);
  if (line.substr(0, 10) != "candidate:") return false;
  auto parts = split(line.substr(10), ' ');
  if (parts.size() < 8) return false;
  unsigned component, port;
  uint64_t priority;
  if (!parse_int(parts[1], &component) || !parse_int(parts[3], &priority) ||
      !parse_int(parts[5], &port) || port > 65535)
    return false;
  std::string transport = lower(parts[2]);
  if (transport != "udp" && transport != "tcp") return false;
  return parts[6] == "typ";
}

}  // namespace kvs::rtc
