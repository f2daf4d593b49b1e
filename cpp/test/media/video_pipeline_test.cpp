// The pipeline on its real media thread. Waits are bounded; no assertion depends on the machine
// being fast, only on frames arriving at all within generous limits.
#include "video_pipeline.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "h264_test_util.h"

namespace kvs::media {
namespace {

using namespace std::chrono_literals;
using test::nal_types;

// Collects frames from the media thread; optionally runs a hook on it for each frame.
struct Collector {
  std::mutex mutex;
  std::condition_variable arrived;
  std::vector<EncodedFramePtr> frames;
  std::function<void(const EncodedFrame&)> hook;

  VideoPipeline::FrameCallback callback() {
    return [this](EncodedFramePtr f) {
      if (hook) hook(*f);
      std::lock_guard lock(mutex);
      frames.push_back(std::move(f));
      arrived.notify_all();
    };
  }
  // Waits until `count` frames have arrived in total (at most 20 s); returns a copy.
  std::vector<EncodedFramePtr> wait_for(size_t count) {
    std::unique_lock lock(mutex);
    arrived.wait_for(lock, 20s, [&] { return frames.size() >= count; });
    return frames;
  }
  size_t size() {
    std::lock_guard lock(mutex);
    return frames.size();
  }
};

VideoConfig small(int fps = 60, int bitrate_kbps = 1000) {
  VideoConfig c;
  c.width = 320;
  c.height = 240;
  c.fps = fps;
  c.bitrate_kbps = bitrate_kbps;
  c.keyframe_interval = 1000;
  return c;
}

std::unique_ptr<VideoPipeline> make(const VideoConfig& c, Collector& collector) {
  std::string error;
  auto p = VideoPipeline::create(c, collector.callback(), &error);
  EXPECT_TRUE(p) << error;
  return p;
}

struct BadConfig {
  const char* name;
  VideoConfig config;
  std::string expected;  // must appear in the error
};

VideoConfig with(void (*edit)(VideoConfig&)) {
  VideoConfig c;
  edit(c);
  return c;
}

TEST(VideoPipeline, BadConfigsAreRejectedNamingFieldAndValue) {
  const BadConfig cases[] = {
      {"odd width", with([](VideoConfig& c) { c.width = 641; }), "width=641"},
      {"zero width", with([](VideoConfig& c) { c.width = 0; }), "width=0"},
      {"wide", with([](VideoConfig& c) { c.width = 3842; }), "width=3842"},
      {"odd height", with([](VideoConfig& c) { c.height = 479; }), "height=479"},
      {"zero height", with([](VideoConfig& c) { c.height = 0; }), "height=0"},
      {"tall", with([](VideoConfig& c) { c.height = 2162; }), "height=2162"},
      {"tiny", with([](VideoConfig& c) { c.height = 14; }), "height=14"},
      {"zero fps", with([](VideoConfig& c) { c.fps = 0; }), "fps=0"},
      {"fast", with([](VideoConfig& c) { c.fps = 121; }), "fps=121"},
      {"zero bitrate", with([](VideoConfig& c) { c.bitrate_kbps = 0; }), "bitrate_kbps=0"},
      {"negative bitrate", with([](VideoConfig& c) { c.bitrate_kbps = -5; }), "bitrate_kbps=-5"},
      {"no keyframes", with([](VideoConfig& c) { c.keyframe_interval = 0; }), "keyframe_interval=0"},
      {"qp floor", with([](VideoConfig& c) { c.qp_min = 52; }), "qp_min=52"},
      {"qp ceiling", with([](VideoConfig& c) { c.qp_max = -1; }), "qp_max=-1"},
      {"qp bounds crossed", with([](VideoConfig& c) { c.qp_min = 40; c.qp_max = 30; }), "qp_min=40 is above qp_max=30"},
      {"unknown source", with([](VideoConfig& c) { c.source = "webcam"; }), "source=\"webcam\""},
  };
  Collector collector;
  for (const BadConfig& bad : cases) {
    SCOPED_TRACE(bad.name);
    std::string error;
    EXPECT_EQ(VideoPipeline::create(bad.config, collector.callback(), &error), nullptr);
    EXPECT_NE(error.find(bad.expected), std::string::npos) << "error was: " << error;
    std::string again;
    EXPECT_FALSE(VideoPipeline::validate(bad.config, &again));
    EXPECT_EQ(again, error);
  }
}

TEST(VideoPipeline, ExtremeButValidSizesAreAccepted) {
  Collector collector;
  for (auto [w, h] : {std::pair{16, 16}, std::pair{3840, 2160}}) {
    VideoConfig c;
    c.width = w;
    c.height = h;
    std::string error;
    EXPECT_TRUE(VideoPipeline::create(c, collector.callback(), &error)) << error;
  }
}

TEST(VideoPipeline, MissingCallbackIsRejected) {
  std::string error;
  EXPECT_EQ(VideoPipeline::create(VideoConfig{}, nullptr, &error), nullptr);
  EXPECT_NE(error.find("callback"), std::string::npos) << error;
}

TEST(VideoPipeline, DeliversDecodableFramesWithoutDroppingAny) {
  Collector collector;
  auto pipeline = make(small(60, 2000), collector);
  pipeline->start();
  const auto frames = collector.wait_for(30);
  pipeline->stop();
  ASSERT_GE(frames.size(), 30u);

  EXPECT_TRUE(frames[0]->keyframe);
  EXPECT_EQ(nal_types(*frames[0]), (std::vector<int>{kNalSps, kNalPps, kNalIdr}));
  test::TestDecoder decoder;
  PatternSource source(320, 240);
  for (size_t i = 0; i < frames.size(); ++i) {
    SCOPED_TRACE("frame " + std::to_string(i));
    EXPECT_EQ(frames[i]->index, i);
    if (i > 0) {
      EXPECT_GT(frames[i]->capture_time_us, frames[i - 1]->capture_time_us);
      EXPECT_NE(frames[i]->rtp_timestamp, frames[i - 1]->rtp_timestamp);
    }
    auto pic = decoder.decode(*frames[i]);
    ASSERT_TRUE(pic);
    EXPECT_EQ(pic->width, 320);
    EXPECT_EQ(pic->height, 240);
    // At 2 Mbit/s nothing is skipped, so the counter shows every source frame in turn.
    EXPECT_EQ(test::read_counter(*pic, source), static_cast<int64_t>(i));
  }
  const VideoPipelineStats stats = pipeline->stats();
  EXPECT_EQ(stats.frames_encoded, frames.size());
  EXPECT_EQ(stats.keyframes_encoded, 1u);
  EXPECT_EQ(stats.encode_errors, 0u);
  EXPECT_EQ(stats.bitrate_kbps, 2000);
}

TEST(VideoPipeline, FramesAreNotProducedFasterThanTheConfiguredRate) {
  Collector collector;
  auto pipeline = make(small(30), collector);
  pipeline->start();
  const auto frames = collector.wait_for(16);
  pipeline->stop();
  ASSERT_GE(frames.size(), 16u);
  const int64_t span = frames[15]->capture_time_us - frames[0]->capture_time_us;
  EXPECT_GE(span, 15 * 1'000'000 / 30 * 9 / 10);  // paced by the clock, not free-running
}

TEST(VideoPipeline, KeyframeRequestedOnTheMediaThreadIsTheVeryNextFrame) {
  Collector collector;
  VideoPipeline* self = nullptr;
  collector.hook = [&](const EncodedFrame& f) {
    if (f.index == 5) self->request_keyframe();
  };
  auto pipeline = make(small(), collector);
  self = pipeline.get();
  pipeline->start();
  const auto frames = collector.wait_for(10);
  pipeline->stop();
  ASSERT_GE(frames.size(), 10u);
  for (size_t i = 1; i < frames.size(); ++i) {
    EXPECT_EQ(frames[i]->keyframe, i == 6) << "frame " << i;
  }
  EXPECT_EQ(nal_types(*frames[6]), (std::vector<int>{kNalSps, kNalPps, kNalIdr}));
  EXPECT_EQ(pipeline->stats().keyframe_requests, 1u);
}

TEST(VideoPipeline, KeyframeRequestedFromAnotherThreadArrivesWithinTwoFrames) {
  Collector collector;
  auto pipeline = make(small(), collector);
  pipeline->start();
  const size_t seen = collector.wait_for(5).size();
  pipeline->request_keyframe();
  const auto frames = collector.wait_for(seen + 2);
  pipeline->stop();
  ASSERT_GE(frames.size(), seen + 2);
  // One frame may already be encoding when the request lands.
  EXPECT_TRUE(frames[seen]->keyframe || frames[seen + 1]->keyframe);
  EXPECT_EQ(pipeline->stats().keyframes_encoded, 2u);
}

TEST(VideoPipeline, KeyframeRequestIsMadeAtOnceFromTheLastPictureNotAtTheNextCapture) {
  // One picture a second: the request lands long before the next capture is due.
  Collector collector;
  auto pipeline = make(small(1, 500), collector);
  pipeline->start();
  ASSERT_GE(collector.wait_for(1).size(), 1u);
  pipeline->request_keyframe();
  const auto frames = collector.wait_for(3);
  pipeline->stop();
  ASSERT_GE(frames.size(), 3u);
  // The IDR repeats picture 0, stamped 1 ms after it, so RTP timestamps keep increasing.
  EXPECT_TRUE(frames[1]->keyframe);
  EXPECT_EQ(nal_types(*frames[1]), (std::vector<int>{kNalSps, kNalPps, kNalIdr}));
  EXPECT_EQ(frames[1]->capture_time_us, frames[0]->capture_time_us + 1000);
  EXPECT_GT(frames[1]->rtp_timestamp, frames[0]->rtp_timestamp);
  EXPECT_GT(frames[2]->capture_time_us, frames[1]->capture_time_us);
  test::TestDecoder decoder;
  PatternSource source(320, 240);
  std::vector<int64_t> counters;
  for (const auto& f : frames) {
    auto pic = decoder.decode(*f);
    ASSERT_TRUE(pic);
    counters.push_back(test::read_counter(*pic, source));
  }
  EXPECT_EQ(counters[0], 0);
  EXPECT_EQ(counters[1], 0) << "the same picture again";
  EXPECT_EQ(counters[2], 1) << "then the next capture, on its own schedule";
  EXPECT_EQ(pipeline->stats().immediate_keyframes, 1u);
}

int64_t monotonic_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Bits per second of the frames captured in [from_us, to_us).
double bitrate_bps(const std::vector<EncodedFramePtr>& frames, int64_t from_us, int64_t to_us) {
  size_t bytes = 0;
  for (const auto& f : frames) {
    if (f->capture_time_us >= from_us && f->capture_time_us < to_us) bytes += f->data.size();
  }
  return bytes * 8 / ((to_us - from_us) / 1e6);
}

TEST(VideoPipeline, SetBitrateLowersTheOutput) {
  // Measured over wall time, not frame counts: at a low bitrate rate control skips pictures.
  Collector collector;
  auto pipeline = make(small(60, 1000), collector);
  pipeline->start();
  const auto first = collector.wait_for(10);
  ASSERT_GE(first.size(), 10u);
  const int64_t before_from = first.back()->capture_time_us;
  std::this_thread::sleep_for(1500ms);
  const int64_t changed_at = monotonic_us();
  pipeline->set_bitrate(60);
  std::this_thread::sleep_for(2000ms);
  const int64_t stopped_at = monotonic_us();
  pipeline->stop();
  const auto frames = collector.wait_for(0);
  const double before = bitrate_bps(frames, before_from, changed_at);
  const double after = bitrate_bps(frames, changed_at + 500'000, stopped_at);  // after settling
  EXPECT_LT(after * 2, before) << "before " << before << " bit/s, after " << after;
  RecordProperty("bitrate_before_bps", static_cast<int>(before));
  RecordProperty("bitrate_after_bps", static_cast<int>(after));
  EXPECT_EQ(pipeline->stats().bitrate_kbps, 60);
}

TEST(VideoPipeline, NonsenseBitrateIsIgnored) {
  Collector collector;
  auto pipeline = make(small(), collector);
  pipeline->set_bitrate(0);
  pipeline->set_bitrate(-100);
  EXPECT_EQ(pipeline->stats().bitrate_kbps, 1000);
  pipeline->set_bitrate(1'000'000);
  EXPECT_EQ(pipeline->stats().bitrate_kbps, VideoPipeline::kMaxBitrateKbps);
}

TEST(VideoPipeline, StopReturnsWithinOneFrameInterval) {
  Collector collector;
  auto pipeline = make(small(1), collector);  // one frame per second
  pipeline->start();
  collector.wait_for(1);  // the first frame is due at once; then the thread sleeps ~1 s
  const auto t0 = std::chrono::steady_clock::now();
  pipeline->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 900ms);
  EXPECT_EQ(collector.size(), 1u);
}

TEST(VideoPipeline, StartStopAreIdempotentAndRestartable) {
  Collector collector;
  auto pipeline = make(small(), collector);
  pipeline->stop();  // never started
  pipeline->start();
  pipeline->start();
  const size_t first_run = collector.wait_for(3).size();
  pipeline->stop();
  pipeline->stop();
  const size_t stopped_at = collector.size();
  ASSERT_GE(first_run, 3u);
  pipeline->start();
  const auto frames = collector.wait_for(stopped_at + 3);
  pipeline->stop();
  EXPECT_GE(frames.size(), stopped_at + 3);
}

TEST(VideoPipeline, DestroyingARunningPipelineStopsIt) {
  Collector collector;
  auto pipeline = make(small(), collector);
  pipeline->start();
  collector.wait_for(2);
  pipeline.reset();  // joins; no callback after this
  const size_t after_reset = collector.size();
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(collector.size(), after_reset);
}

TEST(VideoPipeline, StopFromTheFrameCallbackEndsTheStream) {
  Collector collector;
  VideoPipeline* self = nullptr;
  collector.hook = [&](const EncodedFrame& f) {
    if (f.index == 2) self->stop();  // must not self-join
  };
  auto pipeline = make(small(), collector);
  self = pipeline.get();
  pipeline->start();
  collector.wait_for(3);
  std::this_thread::sleep_for(100ms);  // several frame intervals at 60 fps
  EXPECT_EQ(collector.size(), 3u);
  pipeline->stop();  // joins the finished thread
}

TEST(VideoPipeline, ThrowingCallbackDoesNotStopTheStream) {
  Collector collector;
  collector.hook = [](const EncodedFrame& f) {
    if (f.index == 1) throw std::runtime_error("consumer bug");
  };
  auto pipeline = make(small(), collector);
  pipeline->start();
  const auto frames = collector.wait_for(4);  // frame 1 is lost to the throw, the rest arrive
  pipeline->stop();
  EXPECT_GE(frames.size(), 4u);
}

}  // namespace
}  // namespace kvs::media
