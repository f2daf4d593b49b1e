// Parsers for sources that already deliver H.264 (V4L2 H.264 capture, pipes, files): the
// streaming Annex-B access-unit parser and the SEI capture-timestamp message.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "annexb.h"
#include "annexb_parser.h"
#include "h264_sei.h"
#include "openh264_encoder.h"

using namespace kvs::media;
using Bytes = std::vector<uint8_t>;

namespace {

const Bytes kSps = {0x67, 0x42, 0xc0, 0x1e, 0xda, 0x02, 0x80, 0xbf};
const Bytes kPps = {0x68, 0xce, 0x3c, 0x80};
Bytes idr(uint8_t first_mb_bit = 0x80) { return {0x65, uint8_t(first_mb_bit | 0x08), 0x11, 0x22}; }
Bytes pslice(uint8_t first_mb_bit = 0x80) { return {0x41, uint8_t(first_mb_bit | 0x1a), 0x33}; }
const Bytes kAud = {0x09, 0xf0};

void add(Bytes* s, const Bytes& nal, int sc = 4) {
  if (sc == 4) s->push_back(0);
  s->insert(s->end(), {0, 0, 1});
  s->insert(s->end(), nal.begin(), nal.end());
}

std::vector<uint8_t> types(const H264AccessUnit& au) {
  std::vector<uint8_t> t;
  for (const NalUnit& n : split_annexb(au.data.data(), au.data.size())) t.push_back(n.type());
  return t;
}

std::vector<H264AccessUnit> parse(const Bytes& s, size_t chunk) {
  AnnexBParser p;
  std::vector<H264AccessUnit> out;
  for (size_t i = 0; i < s.size(); i += chunk) p.push(s.data() + i, std::min(chunk, s.size() - i), &out);
  p.flush(&out);
  return out;
}

}  // namespace

TEST(AnnexBParser, AccessUnitsAreTheSameWhateverTheChunking) {
  Bytes s;
  add(&s, kSps);
  add(&s, kPps, 3);
  add(&s, idr());
  add(&s, pslice(), 3);
  add(&s, pslice());
  const auto whole = parse(s, s.size());
  ASSERT_EQ(whole.size(), 3u);
  EXPECT_EQ(types(whole[0]), (std::vector<uint8_t>{7, 8, 5}));
  EXPECT_TRUE(whole[0].keyframe && whole[0].has_sps && whole[0].has_pps);
  EXPECT_EQ(types(whole[1]), (std::vector<uint8_t>{1}));
  EXPECT_FALSE(whole[1].keyframe);
  for (size_t chunk : {1, 2, 3, 5, 7}) {
    const auto parts = parse(s, chunk);
    ASSERT_EQ(parts.size(), whole.size()) << "chunk " << chunk;
    for (size_t i = 0; i < parts.size(); ++i) EXPECT_EQ(parts[i].data, whole[i].data) << "chunk " << chunk;
  }
  // Output uses 4-byte start codes and keeps NAL bytes intact.
  EXPECT_EQ(Bytes(whole[0].data.begin(), whole[0].data.begin() + 4), (Bytes{0, 0, 0, 1}));
}

TEST(AnnexBParser, KeyframeWithoutParameterSetsGetsTheCachedOnes) {
  Bytes s;
  add(&s, kSps);
  add(&s, kPps);
  add(&s, idr());
  add(&s, pslice());
  add(&s, idr());  // a later IDR sent without SPS/PPS (e.g. a camera that sends them once)
  AnnexBParser p;
  std::vector<H264AccessUnit> out;
  p.push(s.data(), s.size(), &out);
  p.flush(&out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(types(out[2]), (std::vector<uint8_t>{7, 8, 5}));
  EXPECT_TRUE(out[2].keyframe);
  EXPECT_EQ(p.stats().sps_pps_inserted, 1u);
  EXPECT_EQ(p.sps(), kSps);
  EXPECT_EQ(p.pps(), kPps);
  AnnexBParser q;
  q.set_insert_parameter_sets(false);
  out.clear();
  q.push(s.data(), s.size(), &out);
  q.flush(&out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(types(out[2]), (std::vector<uint8_t>{5}));
}

TEST(AnnexBParser, SlicesOfOnePictureStayTogetherAndAudSplits) {
  Bytes s;
  add(&s, kAud);
  add(&s, idr(0x80));
  add(&s, idr(0x00));  // second slice of the same picture: first_mb_in_slice != 0
  add(&s, kAud);
  add(&s, pslice(0x80));
  add(&s, pslice(0x00));
  const auto out = parse(s, 4);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(types(out[0]), (std::vector<uint8_t>{9, 5, 5}));
  EXPECT_EQ(types(out[1]), (std::vector<uint8_t>{9, 1, 1}));
}

TEST(AnnexBParser, OversizeNalIsDroppedAndTheStreamRecovers) {
  Bytes s;
  add(&s, kSps);
  add(&s, kPps);
  Bytes big = idr();
  big.resize(5000, 0x55);
  add(&s, big);
  add(&s, idr());
  AnnexBParser p(1024);
  std::vector<H264AccessUnit> out;
  p.push(s.data(), s.size(), &out);
  p.flush(&out);
  EXPECT_EQ(p.stats().dropped_oversize, 1u);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(types(out[0]), (std::vector<uint8_t>{7, 8, 5}));
  EXPECT_LE(out[0].data.size(), 1024u);
}

TEST(AnnexBParser, GarbageBeforeTheFirstStartCodeAndTrailingZerosAreIgnored) {
  Bytes s = {0x12, 0x34, 0x00, 0x56};
  add(&s, kSps);
  s.insert(s.end(), {0, 0, 0, 0});  // trailing_zero_8bits
  add(&s, kPps);
  add(&s, idr());
  s.insert(s.end(), {0, 0});
  const auto out = parse(s, 3);
  ASSERT_EQ(out.size(), 1u);
  const auto nals = split_annexb(out[0].data.data(), out[0].data.size());
  ASSERT_EQ(nals.size(), 3u);
  EXPECT_EQ(Bytes(nals[0].data, nals[0].data + nals[0].size), kSps);
  EXPECT_EQ(Bytes(nals[2].data, nals[2].data + nals[2].size), idr());
}

TEST(H264Sei, TimestampRoundTripsIncludingValuesThatNeedEscaping) {
  for (uint64_t ts : {uint64_t(0), uint64_t(1), uint64_t(0x0000000300000000ull), uint64_t(1732550000123456ull),
                      ~uint64_t(0)}) {
    const Bytes nal = make_timestamp_sei_nal(ts);
    EXPECT_EQ(nal[0] & 0x1f, 6);
    for (size_t i = 2; i < nal.size(); ++i)  // no start-code emulation inside the NAL
      EXPECT_FALSE(nal[i - 2] == 0 && nal[i - 1] == 0 && nal[i] <= 2) << "ts " << ts << " at " << i;
    uint64_t got = 12345;
    ASSERT_TRUE(find_timestamp_sei(nal.data(), nal.size(), &got)) << ts;
    EXPECT_EQ(got, ts);
    // It survives an Annex-B round trip through the access-unit parser.
    Bytes s;
    add(&s, nal);
    add(&s, kSps);
    add(&s, kPps);
    add(&s, idr());
    const auto out = parse(s, 2);
    ASSERT_EQ(out.size(), 1u);
    const auto nals = split_annexb(out[0].data.data(), out[0].data.size());
    ASSERT_FALSE(nals.empty());
    ASSERT_TRUE(find_timestamp_sei(nals[0].data, nals[0].size, &got));
    EXPECT_EQ(got, ts);
  }
}

TEST(H264Sei, ParsesExtendedTypeAndSizeAndRejectsTruncation) {
  // payloadType 255+5 = 260, payloadSize 255+2 = 257 bytes of 0x11, then trailing bits.
  Bytes rbsp = {0xff, 0x05, 0xff, 0x02};
  rbsp.insert(rbsp.end(), 257, 0x11);
  rbsp.push_back(0x80);
  Bytes nal = {0x06};
  Bytes esc = h264_escape_rbsp(rbsp.data(), rbsp.size());
  nal.insert(nal.end(), esc.begin(), esc.end());
  std::vector<SeiMessage> msgs;
  ASSERT_TRUE(parse_sei_nal(nal.data(), nal.size(), &msgs));
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].type, 260u);
  EXPECT_EQ(msgs[0].payload.size(), 257u);
  msgs.clear();
  EXPECT_FALSE(parse_sei_nal(nal.data(), 100, &msgs));  // payload runs past the end
  EXPECT_TRUE(msgs.empty());
  const Bytes not_sei = {0x65, 0x88};
  EXPECT_FALSE(parse_sei_nal(not_sei.data(), not_sei.size(), &msgs));
  uint64_t ts;
  EXPECT_FALSE(find_timestamp_sei(nal.data(), nal.size(), &ts));  // other UUID/type
}

TEST(H264Sei, EscapeAndUnescapeAreInverse) {
  const Bytes raw = {0, 0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 3, 0, 0, 4, 0, 0};
  const Bytes esc = h264_escape_rbsp(raw.data(), raw.size());
  EXPECT_EQ(esc, (Bytes{0, 0, 3, 0, 0, 3, 0, 1, 0, 0, 3, 2, 0, 0, 3, 3, 0, 0, 4, 0, 0}));
  EXPECT_EQ(h264_unescape_rbsp(esc.data(), esc.size()), raw);
}

// ---- against a real H.264 encoder's output (openh264, the engine's software encoder)

TEST(AnnexBParser, RealEncoderStreamSplitsIntoItsAccessUnitsWithTimestampSei) {
  EncoderConfig cfg;
  cfg.width = 320;
  cfg.height = 240;
  cfg.fps = 30;
  cfg.bitrate_kbps = 800;
  cfg.keyframe_interval = 10;
  std::string err;
  auto enc = OpenH264Encoder::create(cfg, &err);
  ASSERT_TRUE(enc) << err;
  std::vector<EncodedFramePtr> frames;
  I420Frame pic;
  pic.allocate(cfg.width, cfg.height);
  for (int i = 0; i < 30; ++i) {
    for (int y = 0; y < cfg.height; ++y)
      for (int x = 0; x < cfg.width; ++x) pic.y()[y * cfg.width + x] = uint8_t((x + y + 3 * i) & 0xff);
    std::fill(pic.u(), pic.u() + cfg.width * cfg.height / 4, uint8_t(100 + i));
    std::fill(pic.v(), pic.v() + cfg.width * cfg.height / 4, uint8_t(140));
    if (i == 15) enc->request_keyframe();
    auto f = enc->encode(pic, 1000 * i, &err);
    ASSERT_TRUE(err.empty()) << err;
    if (f) frames.push_back(f);
  }
  ASSERT_GE(frames.size(), 20u);
  // The stream a pipe source would read: each access unit preceded by a timestamp SEI; IDRs
  // after the first lose their SPS/PPS (as with cameras that send them once).
  Bytes stream;
  std::vector<bool> keys;
  for (size_t i = 0; i < frames.size(); ++i) {
    add(&stream, make_timestamp_sei_nal(5000000 + i));
    for (const NalUnit& n : split_annexb(frames[i]->data.data(), frames[i]->data.size())) {
      if (i > 0 && (n.type() == kNalSps || n.type() == kNalPps)) continue;
      add(&stream, Bytes(n.data, n.data + n.size));
    }
    keys.push_back(frames[i]->keyframe);
  }
  std::mt19937 rng(42);
  AnnexBParser p;
  std::vector<H264AccessUnit> aus;
  for (size_t i = 0; i < stream.size();) {
    size_t n = std::min<size_t>(1 + rng() % 3000, stream.size() - i);
    p.push(stream.data() + i, n, &aus);
    i += n;
  }
  p.flush(&aus);
  ASSERT_EQ(aus.size(), frames.size());
  for (size_t i = 0; i < aus.size(); ++i) {
    EXPECT_EQ(aus[i].keyframe, keys[i]) << i;
    const auto nals = split_annexb(aus[i].data.data(), aus[i].data.size());
    ASSERT_FALSE(nals.empty());
    uint64_t ts = 0;
    ASSERT_TRUE(find_timestamp_sei(nals[0].data, nals[0].size, &ts)) << i;
    EXPECT_EQ(ts, 5000000 + i);
    if (aus[i].keyframe) {  // every keyframe is self-contained again
      EXPECT_TRUE(aus[i].has_sps && aus[i].has_pps) << i;
    }
    // The slices are the encoder's, byte for byte.
    Bytes slices_in, slices_out;
    for (const NalUnit& n : split_annexb(frames[i]->data.data(), frames[i]->data.size()))
      if (n.type() == kNalSlice || n.type() == kNalIdr) slices_in.insert(slices_in.end(), n.data, n.data + n.size);
    for (const NalUnit& n : nals)
      if (n.type() == kNalSlice || n.type() == kNalIdr) slices_out.insert(slices_out.end(), n.data, n.data + n.size);
    EXPECT_EQ(slices_in, slices_out) << i;
  }
  int nkeys = 0;
  for (bool k : keys) nkeys += k;
  EXPECT_GE(nkeys, 3);  // IDR at 0, the request at 15, and the interval
  EXPECT_EQ(p.stats().sps_pps_inserted, uint64_t(nkeys - 1));
}
