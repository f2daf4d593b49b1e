// Ogg pages (RFC 3533) and the Ogg Opus mapping (RFC 7845): writer -> reader round trips, packets
// that span pages, and the errors a broken or foreign file gets.
#include <gtest/gtest.h>

#include <cstring>

#include "ogg.h"

using namespace kvs::media;

namespace {
std::vector<uint8_t> packet(size_t size, uint8_t seed) {
  std::vector<uint8_t> p(size);
  for (size_t i = 0; i < size; ++i) p[i] = static_cast<uint8_t>(seed + i * 7);
  return p;
}

// A small valid Ogg Opus stream: OpusHead, OpusTags, then `n` copies of a 20 ms CELT packet.
std::vector<uint8_t> ogg_opus(int n, std::vector<uint8_t> p = {0xf8, 0x01, 0x02, 0x03}) {
  OggWriter w(1234);
  std::vector<uint8_t> out;
  auto add = [&](const std::vector<uint8_t>& b) { out.insert(out.end(), b.begin(), b.end()); };
  auto head = make_opus_head(2, 312, 48000);
  add(w.add(head.data(), head.size(), 0));
  add(w.flush());
  auto tags = make_opus_tags("test");
  add(w.add(tags.data(), tags.size(), 0));
  add(w.flush());
  for (int i = 0; i < n; ++i) add(w.add(p.data(), p.size(), 312 + 960 * (i + 1)));
  add(w.flush(true));
  return out;
}
}  // namespace

TEST(Ogg, CrcCheckValue) {
  // CRC-32 with polynomial 0x04c11db7, init 0, not reflected, no final xor: the check value of
  // "123456789" is CRC-32/POSIX's 0x765e7680 without its final inversion.
  const char* s = "123456789";
  EXPECT_EQ(ogg_crc(reinterpret_cast<const uint8_t*>(s), 9), 0x89a1897fu);
  EXPECT_EQ(ogg_crc_update(ogg_crc(reinterpret_cast<const uint8_t*>(s), 4), reinterpret_cast<const uint8_t*>(s) + 4, 5), 0x89a1897fu);
}

TEST(Ogg, RoundTripWithPacketsAcrossPages) {
  OggWriter w(42);
  std::vector<uint8_t> file;
  std::vector<std::vector<uint8_t>> sent = {packet(10, 1), packet(255, 2), packet(0, 3), packet(70000, 4), packet(510, 5), packet(1, 6)};
  int64_t g = 0;
  for (auto& p : sent) {
    auto b = w.add(p.data(), p.size(), g += 960);
    file.insert(file.end(), b.begin(), b.end());
  }
  auto b = w.flush(true);
  file.insert(file.end(), b.begin(), b.end());
  EXPECT_GT(w.pages(), 1u);  // 70000 bytes need more than 255 segments: the packet continues
  OggReader r(file.data(), file.size());
  OggPacket p;
  size_t i = 0;
  while (r.next(&p)) {
    ASSERT_LT(i, sent.size());
    EXPECT_EQ(p.data, sent[i]) << "packet " << i;
    ++i;
  }
  EXPECT_EQ(r.error(), "");
  EXPECT_EQ(i, sent.size());
  EXPECT_TRUE(r.eos());
  EXPECT_EQ(p.granule, 960 * 6);  // the last packet ends the last page
}

TEST(Ogg, CorruptionIsNamed) {
  auto file = ogg_opus(3);
  file[40] ^= 0x55;  // inside the first page
  OggReader r(file.data(), file.size());
  OggPacket p;
  EXPECT_FALSE(r.next(&p));
  EXPECT_NE(r.error().find("CRC mismatch"), std::string::npos) << r.error();

  const char text[] = "RIFF....WAVEfmt this is not ogg at all";
  OggReader r2(reinterpret_cast<const uint8_t*>(text), sizeof text);
  EXPECT_FALSE(r2.next(&p));
  EXPECT_NE(r2.error().find("not an Ogg file"), std::string::npos) << r2.error();

  auto cut = ogg_opus(3);
  cut.resize(cut.size() - 3);
  OpusHead head;
  std::vector<std::vector<uint8_t>> packets;
  std::string error;
  EXPECT_FALSE(parse_ogg_opus(cut.data(), cut.size(), &head, &packets, &error));
  EXPECT_NE(error.find("truncated"), std::string::npos) << error;
}

TEST(OggOpus, ParsesHeadAndPackets) {
  auto file = ogg_opus(5);
  OpusHead head;
  std::vector<std::vector<uint8_t>> packets;
  std::string error;
  ASSERT_TRUE(parse_ogg_opus(file.data(), file.size(), &head, &packets, &error)) << error;
  EXPECT_EQ(head.channels, 2);
  EXPECT_EQ(head.pre_skip, 312);
  EXPECT_EQ(head.input_rate, 48000u);
  EXPECT_EQ(packets.size(), 5u);
}

TEST(OggOpus, RefusesOtherCodecsAndMultichannel) {
  OggWriter w(7);
  const char vorbis[] = "\x01vorbis....................";
  auto file = w.add(reinterpret_cast<const uint8_t*>(vorbis), sizeof vorbis, 0);
  auto page = w.flush(true);
  file.insert(file.end(), page.begin(), page.end());
  OpusHead head;
  std::vector<std::vector<uint8_t>> packets;
  std::string error;
  EXPECT_FALSE(parse_ogg_opus(file.data(), file.size(), &head, &packets, &error));
  EXPECT_NE(error.find("not an OpusHead"), std::string::npos) << error;

  auto six = make_opus_head(6, 0, 48000);
  six[18] = 1;
  EXPECT_FALSE(parse_opus_head(six.data(), six.size(), &head, &error));
  EXPECT_NE(error.find("mapping family 1"), std::string::npos) << error;

  auto bad = ogg_opus(2, {0xfb, 0x3f});  // code 3 with 63 frames of 20 ms: over 120 ms, invalid
  EXPECT_FALSE(parse_ogg_opus(bad.data(), bad.size(), &head, &packets, &error));
  EXPECT_NE(error.find("not a valid Opus packet"), std::string::npos) << error;

  auto empty = ogg_opus(0);
  EXPECT_FALSE(parse_ogg_opus(empty.data(), empty.size(), &head, &packets, &error));
  EXPECT_NE(error.find("no audio packets"), std::string::npos) << error;
}
