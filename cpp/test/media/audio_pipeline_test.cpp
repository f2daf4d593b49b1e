// The audio pipeline's sources: an Ogg Opus file of 20 ms packets is passed through unchanged,
// one of 60 ms packets is re-encoded into 20 ms frames, a file that is not Ogg Opus is refused
// by name, and G.711 is encoded only while set_g711(true) says a G.711 peer listens.
#include <gtest/gtest.h>
#include <opus/opus.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>

#include "audio_pipeline.h"
#include "ogg.h"

using namespace kvs::media;

namespace {
// Writes an Ogg Opus file of `seconds` of the tone, in packets of `frame` samples.
std::vector<std::vector<uint8_t>> write_ogg(const std::string& path, int frame, double seconds) {
  int err = 0;
  OpusEncoder* enc = opus_encoder_create(48000, 1, OPUS_APPLICATION_AUDIO, &err);
  OggWriter w(99);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  auto put = [&](const std::vector<uint8_t>& b) { std::fwrite(b.data(), 1, b.size(), f); };
  auto head = make_opus_head(1, 312, 48000);
  put(w.add(head.data(), head.size(), 0));
  put(w.flush());
  auto tags = make_opus_tags("test");
  put(w.add(tags.data(), tags.size(), 0));
  put(w.flush());
  std::vector<std::vector<uint8_t>> packets;
  std::vector<int16_t> pcm(frame), chunk(960);
  uint8_t buf[4000];
  int64_t granule = 312;
  for (int i = 0; i < static_cast<int>(seconds * 48000 / frame); ++i) {
    for (int k = 0; k < frame / 960; ++k) {
      render_tone(523, 1, static_cast<uint64_t>(i * (frame / 960) + k), chunk.data());
      std::copy(chunk.begin(), chunk.end(), pcm.begin() + k * 960);
    }
    int len = opus_encode(enc, pcm.data(), frame, buf, sizeof buf);
    packets.emplace_back(buf, buf + len);
    put(w.add(buf, static_cast<size_t>(len), granule += frame));
  }
  put(w.flush(true));
  std::fclose(f);
  opus_encoder_destroy(enc);
  return packets;
}

struct Collector {
  std::mutex m;
  std::vector<EncodedAudioPtr> frames;
  size_t size() {
    std::lock_guard<std::mutex> l(m);
    return frames.size();
  }
  bool wait_for(size_t n) {
    for (int i = 0; i < 400 && size() < n; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(25));
    return size() >= n;
  }
  AudioPipeline::FrameCallback sink() {
    return [this](EncodedAudioPtr f) {
      std::lock_guard<std::mutex> l(m);
      frames.push_back(f);
    };
  }
};

// An audio pipeline whose source is the Ogg Opus file at `path`, its frames going to `c`;
// null (with `error` set) where the file is refused.
std::unique_ptr<AudioPipeline> open_ogg(const std::string& path, Collector& c, std::string* error) {
  AudioConfig cfg;
  cfg.source = "ogg";
  cfg.path = path;
  return AudioPipeline::create(cfg, c.sink(), error);
}

std::string temp(const char* name) { return "/tmp/kvs-pipeline-test-" + std::to_string(getpid()) + name; }
}  // namespace

TEST(AudioPipelineOgg, TwentyMsPacketsPassThroughAndLoop) {
  std::string path = temp("-20.ogg");
  auto packets = write_ogg(path, 960, 0.2);  // 10 packets: loops quickly
  Collector c;
  std::string error;
  auto p = open_ogg(path, c, &error);
  ASSERT_TRUE(p) << error;
  p->start();
  ASSERT_TRUE(c.wait_for(25));
  p->set_g711(true);
  size_t at = c.size();
  ASSERT_TRUE(c.wait_for(at + 10));
  p->stop();
  EXPECT_TRUE(p->stats().passthrough);
  EXPECT_GE(p->stats().loops, 2u);
  std::lock_guard<std::mutex> l(c.m);
  for (size_t i = 0; i < 20; ++i) {
    EXPECT_EQ(c.frames[i]->data, packets[i % packets.size()]) << "frame " << i;  // the file's own packets
    EXPECT_EQ(c.frames[i]->rtp_timestamp, i * 960);
    EXPECT_TRUE(c.frames[i]->pcmu.empty()) << "no G.711 without a G.711 peer";
  }
  EXPECT_EQ(c.frames.back()->pcmu.size(), 160u);
  EXPECT_EQ(c.frames.back()->pcma.size(), 160u);
  EXPECT_GT(p->stats().g711_frames, 0u);
  std::remove(path.c_str());
}

TEST(AudioPipelineOgg, SixtyMsPacketsAreReencodedInto20MsFrames) {
  std::string path = temp("-60.ogg");
  auto packets = write_ogg(path, 2880, 0.6);
  Collector c;
  std::string error;
  auto p = open_ogg(path, c, &error);
  ASSERT_TRUE(p) << error;
  p->start();
  ASSERT_TRUE(c.wait_for(40));
  p->stop();
  EXPECT_FALSE(p->stats().passthrough);
  std::lock_guard<std::mutex> l(c.m);
  for (size_t i = 0; i < 40; ++i)
    EXPECT_EQ(opus_packet_get_nb_samples(c.frames[i]->data.data(), static_cast<opus_int32>(c.frames[i]->data.size()), 48000), 960);
  std::remove(path.c_str());
}

TEST(AudioPipelineOgg, NotOggOpusIsRefusedByName) {
  std::string path = temp("-not.ogg");
  std::FILE* f = std::fopen(path.c_str(), "wb");
  std::fputs("RIFF\x24\x00\x00\x00WAVEfmt definitely a wav file", f);
  std::fclose(f);
  std::string error;
  AudioConfig cfg;
  cfg.source = "ogg";
  cfg.path = path;
  EXPECT_FALSE(AudioPipeline::create(cfg, [](EncodedAudioPtr) {}, &error));
  EXPECT_NE(error.find(path), std::string::npos) << error;
  EXPECT_NE(error.find("not an Ogg file"), std::string::npos) << error;
  cfg.path = "/nonexistent.ogg";
  EXPECT_FALSE(AudioPipeline::create(cfg, [](EncodedAudioPtr) {}, &error));
  EXPECT_NE(error.find("cannot be read"), std::string::npos) << error;
  std::remove(path.c_str());
}

TEST(AudioPipelineTone, G711OnlyWhenAsked) {
  Collector c;
  std::string error;
  auto p = AudioPipeline::create(AudioConfig{}, c.sink(), &error);
  ASSERT_TRUE(p) << error;
  p->start();
  ASSERT_TRUE(c.wait_for(5));
  p->stop();
  EXPECT_EQ(p->stats().g711_frames, 0u);
  std::lock_guard<std::mutex> l(c.m);
  for (auto& f : c.frames) EXPECT_TRUE(f->pcmu.empty() && f->pcma.empty());
}
