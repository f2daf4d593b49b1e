// Talk-back sinks: Ogg Opus files read back with our reader and libopus, G.711 transcoded to
// Ogg Opus, and the supervised playback command (dd writing what it gets to a file; a command
// that exits at once is restarted with backoff while the audio meanwhile is dropped and counted).
#include <gtest/gtest.h>
#include <opus/opus.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <thread>

#include "audio_pipeline.h"
#include "audio_sink.h"
#include "g711.h"
#include "ogg.h"

using namespace kvs::media;

namespace {
std::string temp_path(const std::string& name) {
  return (std::string("/tmp/kvs-sink-test-") + std::to_string(getpid()) + "-" + name);
}

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// `n` Opus packets (20 ms, stereo) of the 440 Hz beep.
std::vector<std::vector<uint8_t>> opus_tone(int n) {
  int err = 0;
  OpusEncoder* enc = opus_encoder_create(48000, 2, OPUS_APPLICATION_VOIP, &err);
  std::vector<std::vector<uint8_t>> out;
  std::vector<int16_t> pcm(960 * 2);
  uint8_t buf[1500];
  for (int i = 0; i < n; ++i) {
    render_tone(440, 2, static_cast<uint64_t>(i), pcm.data());
    int len = opus_encode(enc, pcm.data(), 960, buf, sizeof buf);
    out.emplace_back(buf, buf + len);
  }
  opus_encoder_destroy(enc);
  return out;
}
}  // namespace

TEST(OggOpusSink, StoresPacketsWithGranulesAndFillsGaps) {
  std::string path = temp_path("talk.ogg");
  std::string error;
  auto sink = AudioSink::open({"ogg", path, {}}, SinkCodec::kOpus, &error);
  ASSERT_TRUE(sink) << error;
  auto packets = opus_tone(60);
  uint16_t seq = 65500;  // wraps around
  for (int i = 0; i < 60; ++i) {
    if (i == 30) seq += 2;  // two packets lost
    sink->push(packets[i].data(), packets[i].size(), seq++);
  }
  sink->push(packets[59].data(), packets[59].size(), static_cast<uint16_t>(seq - 1));  // duplicate: ignored
  sink->close();
  EXPECT_EQ(sink->stats().packets, 60u);
  EXPECT_EQ(sink->stats().samples, 62u * 960);

  auto file = read_file(path);
  EXPECT_EQ(sink->stats().bytes_written, file.size());
  OpusHead head;
  std::vector<std::vector<uint8_t>> read;
  ASSERT_TRUE(parse_ogg_opus(file.data(), file.size(), &head, &read, &error)) << error;
  EXPECT_EQ(head.channels, 2);
  ASSERT_EQ(read.size(), 62u);  // 60 + two "lost frame" packets
  EXPECT_EQ(read[0], packets[0]);
  EXPECT_EQ(read[30], std::vector<uint8_t>{0xf8});
  EXPECT_EQ(read[61], packets[59]);
  // The last page's granule position is the total duration.
  OggReader r(file.data(), file.size());
  OggPacket p;
  int64_t last = -1;
  while (r.next(&p))
    if (p.granule >= 0) last = p.granule;
  EXPECT_EQ(last, 62 * 960);
  EXPECT_TRUE(r.eos());
  std::remove(path.c_str());
}

TEST(OggOpusSink, TranscodesG711) {
  std::string path = temp_path("g711.ogg");
  std::string error;
  auto sink = AudioSink::open({"ogg", path, {}}, SinkCodec::kPcmu, &error);
  ASSERT_TRUE(sink) << error;
  std::vector<int16_t> pcm(960);
  uint8_t mu[160];
  for (int i = 0; i < 50; ++i) {
    render_tone(440, 1, static_cast<uint64_t>(i), pcm.data());
    encode_g711_from_48k(pcm.data(), 1, false, mu);
    sink->push(mu, sizeof mu, static_cast<uint16_t>(i));
  }
  sink->close();
  auto file = read_file(path);
  OpusHead head;
  std::vector<std::vector<uint8_t>> read;
  ASSERT_TRUE(parse_ogg_opus(file.data(), file.size(), &head, &read, &error)) << error;
  EXPECT_EQ(head.channels, 1);
  EXPECT_GT(head.pre_skip, 0);  // the encoder's lookahead
  EXPECT_EQ(read.size(), 50u);
  std::remove(path.c_str());
}

TEST(CommandSink, FeedsDecodedPcmToTheCommand) {
  std::string path = temp_path("cmd.raw");
  std::string error;
  auto sink = AudioSink::open({"command", "", {"dd", "of=" + path, "status=none"}}, SinkCodec::kOpus, &error);
  ASSERT_TRUE(sink) << error;
  auto packets = opus_tone(50);
  for (int i = 0; i < 50; ++i) sink->push(packets[i].data(), packets[i].size(), static_cast<uint16_t>(i));
  sink->close();  // what dd has not read yet is handed over first
  auto s = sink->stats();
  EXPECT_EQ(s.samples, 50u * 960);
  EXPECT_EQ(s.dropped, 0u);
  const size_t want = 50 * 960 * 2;  // s16le mono
  std::vector<uint8_t> got;
  for (int i = 0; i < 100 && got.size() < want; ++i) {  // dd finishes after EOF on its stdin
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    got = read_file(path);
  }
  ASSERT_EQ(got.size(), want);
  EXPECT_EQ(s.bytes_written, want);
  double sum = 0;
  for (size_t i = 0; i + 1 < got.size(); i += 2) {
    double v = static_cast<int16_t>(got[i] | (got[i + 1] << 8));
    sum += v * v;
  }
  EXPECT_GT(std::sqrt(sum / (got.size() / 2)), 1000);  // the beep, not silence
  std::remove(path.c_str());
}

TEST(CommandSink, ACommandThatExitsIsRestartedAndTheGapCounted) {
  std::string error;
  auto sink = AudioSink::open({"command", "", {"true"}}, SinkCodec::kPcma, &error);
  ASSERT_TRUE(sink) << error;
  uint8_t a[160];
  std::memset(a, 0xd5, sizeof a);
  for (int i = 0; i < 100; ++i) {  // 2 s of packets, 20 ms apart
    sink->push(a, sizeof a, static_cast<uint16_t>(i));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto s = sink->stats();
  sink->close();
  EXPECT_EQ(s.packets, 100u);
  EXPECT_GE(s.restarts, 1u);
  EXPECT_LE(s.restarts, 6u);  // backoff: 250, 500, 1000 ms ... not one start per packet
  EXPECT_GT(s.dropped, 0u);
}

TEST(CommandSink, BadCommandsAreNamed) {
  std::string error;
  EXPECT_FALSE(AudioSink::open({"command", "", {"/nonexistent/player", "-"}}, SinkCodec::kOpus, &error));
  EXPECT_NE(error.find("/nonexistent/player"), std::string::npos) << error;
  EXPECT_NE(error.find("cannot be started"), std::string::npos) << error;
  EXPECT_FALSE(AudioSink::open({"command", "", {}}, SinkCodec::kOpus, &error));
  EXPECT_NE(error.find("empty"), std::string::npos) << error;
  EXPECT_FALSE(AudioSink::open({"ogg", "/nonexistent/dir/x.ogg", {}}, SinkCodec::kOpus, &error));
  EXPECT_NE(error.find("/nonexistent/dir/x.ogg"), std::string::npos) << error;
  EXPECT_FALSE(AudioSink::open({"mp3", "/tmp/x", {}}, SinkCodec::kOpus, &error));
  EXPECT_NE(error.find("supported: wav, ogg, command"), std::string::npos) << error;
}
