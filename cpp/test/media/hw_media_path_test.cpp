// Host-side pieces of the hardware media path: raw format conversion, the capture-timestamp SEI
// inserted into encoder output, the encoder choice of `auto` when no hardware encoder opens,
// and the raw pipe source through the whole pipeline.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "annexb.h"
#include "h264_encoder.h"
#include "h264_sei.h"
#include "openh264_encoder.h"
#include "pattern_source.h"
#include "raw_source.h"
#include "v4l2_device.h"
#include "v4l2_probe.h"
#include "video_pipeline.h"

using namespace kvs::media;

TEST(ConvertToI420, Nv12AndYuyvGiveTheSamePlanes) {
  const int w = 6, h = 4;
  std::vector<uint8_t> nv12(w * h * 3 / 2), yuyv(w * h * 2), i420(w * h * 3 / 2);
  for (int i = 0; i < w * h; ++i) nv12[i] = i420[i] = static_cast<uint8_t>(i);
  for (int i = 0; i < (w / 2) * (h / 2); ++i) {
    nv12[w * h + 2 * i] = i420[w * h + i] = static_cast<uint8_t>(100 + i);
    nv12[w * h + 2 * i + 1] = i420[w * h + (w / 2) * (h / 2) + i] = static_cast<uint8_t>(200 + i);
  }
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; x += 2) {
      const int c = (y / 2) * (w / 2) + x / 2;
      uint8_t* p = &yuyv[(y * w + x) * 2];
      p[0] = static_cast<uint8_t>(y * w + x);
      p[1] = static_cast<uint8_t>(100 + c);
      p[2] = static_cast<uint8_t>(y * w + x + 1);
      p[3] = static_cast<uint8_t>(200 + c);
    }
  I420Frame a, b, c;
  ASSERT_TRUE(convert_to_i420(V4L2_PIX_FMT_NV12, nv12.data(), nv12.size(), w, h, &a));
  ASSERT_TRUE(convert_to_i420(V4L2_PIX_FMT_YUYV, yuyv.data(), yuyv.size(), w, h, &b));
  ASSERT_TRUE(convert_to_i420(V4L2_PIX_FMT_YUV420, i420.data(), i420.size(), w, h, &c));
  EXPECT_EQ(a.buffer, i420);
  EXPECT_EQ(b.buffer, i420);
  EXPECT_EQ(c.buffer, i420);
  EXPECT_FALSE(convert_to_i420(V4L2_PIX_FMT_NV12, nv12.data(), nv12.size() - 1, w, h, &a)) << "short buffer";
  EXPECT_FALSE(convert_to_i420(V4L2_PIX_FMT_MJPEG, nv12.data(), nv12.size(), w, h, &a)) << "not a raw format";
}

TEST(TimestampSei, InsertedBeforeTheFirstSliceAndReadBack) {
  EncoderConfig ec;
  ec.width = 64;
  ec.height = 64;
  std::string error;
  auto enc = OpenH264Encoder::create(ec, &error);
  ASSERT_TRUE(enc) << error;
  PatternSource pattern(64, 64);
  I420Frame pic;
  pattern.render(0, pic);
  auto f = enc->encode(pic, 0, &error);
  ASSERT_TRUE(f);
  std::vector<uint8_t> au = f->data;
  ASSERT_TRUE(insert_timestamp_sei(&au, 1234567890123456ull));
  std::vector<int> types;
  uint64_t ts = 0;
  for (const NalUnit& n : split_annexb(au.data(), au.size())) {
    types.push_back(n.type());
    if (n.type() == kNalSei) EXPECT_TRUE(find_timestamp_sei(n.data, n.size, &ts));
  }
  EXPECT_EQ(ts, 1234567890123456ull);
  ASSERT_GE(types.size(), 4u);
  EXPECT_EQ(types[0], kNalSps);
  EXPECT_EQ(types[1], kNalPps);
  EXPECT_EQ(types[2], kNalSei);
  EXPECT_EQ(types[3], kNalIdr);
  std::vector<uint8_t> no_slice{0, 0, 0, 1, 0x67, 1, 2};
  EXPECT_FALSE(insert_timestamp_sei(&no_slice, 1));
  EXPECT_EQ(no_slice.size(), 7u);
  const int64_t wall = monotonic_to_wall_us(std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
  EXPECT_LT(std::llabs(wall - wall_clock_us()), 100000) << "monotonic -> wall clock conversion";
}

TEST(H264EncoderChoice, AutoFallsBackWithTheReasonAndV4l2m2mRefuses) {
  H264EncoderSettings s;
  s.width = 64;
  s.height = 64;
  s.device = "/dev/kvs-no-such-encoder";
  std::string error;
  auto e = open_h264_encoder(s, &error);
  ASSERT_TRUE(e) << error;
  EXPECT_EQ(e->info().name, "openh264");
  EXPECT_EQ(e->info().reason, "auto: /dev/kvs-no-such-encoder: No such file or directory; software encoder");
  s.kind = "v4l2m2m";
  EXPECT_FALSE(open_h264_encoder(s, &error));
  EXPECT_NE(error.find("video.encoder v4l2m2m: /dev/kvs-no-such-encoder"), std::string::npos) << error;
  s.kind = "openh264";
  e = open_h264_encoder(s, &error);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->info().reason, "configured: video.encoder openh264");
  PatternSource pattern(64, 64);
  I420Frame pic;
  pattern.render(0, pic);
  std::vector<EncodedFramePtr> out;
  ASSERT_TRUE(e->encode(pic, 0, &out, &error)) << error;
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(is_h264_idr_access_unit(out[0]->data.data(), out[0]->data.size()));
  const uint8_t fwht[] = {0x4f, 0x4f, 0x4f, 0x4f, 0, 0, 0, 1};
  EXPECT_FALSE(is_h264_idr_access_unit(fwht, sizeof fwht)) << "not Annex-B H.264";
}

TEST(RawPipeSource, FramesFromACommandAreEncodedWithCaptureTimestamps) {
  VideoConfig c;
  c.source = "pipe";
  c.pipe_format = "nv12";
  c.width = 32;
  c.height = 32;
  c.capture_timestamps = true;
  // 32x32 NV12 = 1536 bytes per frame; head -c gives exactly 5 frames, then the command ends.
  c.command = {"sh", "-c", "head -c 7680 /dev/zero"};
  std::mutex m;
  std::condition_variable cv;
  int frames = 0, stamped = 0;
  std::string error;
  auto p = VideoPipeline::create(c, [&](EncodedFramePtr f) {
    std::lock_guard lock(m);
    ++frames;
    for (const NalUnit& n : split_annexb(f->data.data(), f->data.size())) {
      uint64_t ts;
      if (n.type() == kNalSei && find_timestamp_sei(n.data, n.size, &ts)) ++stamped;
    }
    cv.notify_all();
  }, &error);
  ASSERT_TRUE(p) << error;
  p->start();
  {
    std::unique_lock lock(m);
    cv.wait_for(lock, std::chrono::seconds(20), [&] { return frames >= 7; });
  }
  p->stop();
  EXPECT_GE(frames, 7) << "5 frames, then more after the restart";
  EXPECT_EQ(stamped, frames);
  EXPECT_GE(p->stats().source_restarts, 1u);
  EXPECT_EQ(p->stats().encoder, "openh264");
  EXPECT_EQ(p->stats().source, "pipe \"sh\" nv12 32x32");
}

TEST(V4l2Probe, ListsNothingInAnEmptyDirAndExplainsNonDevices) {
  EXPECT_TRUE(list_video_nodes("/nonexistent-dir").empty());
  V4l2NodeInfo n = probe_v4l2_node("/dev/null");
  EXPECT_FALSE(n.opened);
  EXPECT_FALSE(n.is_h264_encoder);
  EXPECT_NE(n.error.find("not a V4L2 device"), std::string::npos) << n.error;
}
