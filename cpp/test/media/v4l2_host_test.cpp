// V4L2 code paths that need no video device: names, sizes, the FWHT keyframe flag, and the
// errors a user sees when the configured node is missing, is not V4L2, or the config is wrong.
// The same classes run against real kernel drivers in test/hw/v4l2-qemu.test.ts.
#include <gtest/gtest.h>

#include <string>

#include "v4l2_capture.h"
#include "v4l2_device.h"
#include "v4l2_m2m_encoder.h"

using namespace kvs::media;

TEST(V4l2Names, FourccRoundTrip) {
  EXPECT_EQ(v4l2_fourcc_name(V4L2_PIX_FMT_H264), "H264");
  EXPECT_EQ(v4l2_fourcc_name(V4L2_PIX_FMT_NV12), "NV12");
  EXPECT_EQ(v4l2_fourcc_name(V4L2_PIX_FMT_FWHT), "FWHT");
  EXPECT_EQ(v4l2_fourcc_name(0x01020304), "....");
  EXPECT_EQ(v4l2_fourcc_from_name("YUYV"), uint32_t(V4L2_PIX_FMT_YUYV));
  EXPECT_EQ(v4l2_fourcc_from_name("I420"), uint32_t(V4L2_PIX_FMT_YUV420));
  EXPECT_EQ(v4l2_fourcc_from_name("YU12"), uint32_t(V4L2_PIX_FMT_YUV420));
  EXPECT_EQ(v4l2_fourcc_from_name("H.264"), uint32_t(V4L2_PIX_FMT_H264));
  EXPECT_EQ(v4l2_fourcc_from_name("toolong"), 0u);
}

TEST(V4l2Names, PackedFrameSizes) {
  EXPECT_EQ(v4l2_packed_frame_size(V4L2_PIX_FMT_YUV420, 640, 480), 460800u);
  EXPECT_EQ(v4l2_packed_frame_size(V4L2_PIX_FMT_NV12, 640, 480), 460800u);
  EXPECT_EQ(v4l2_packed_frame_size(V4L2_PIX_FMT_YUYV, 640, 480), 614400u);
  EXPECT_EQ(v4l2_packed_frame_size(V4L2_PIX_FMT_YUV420, 5, 3), 15u + 2u * 3u * 2u);  // odd sizes round chroma up
  EXPECT_EQ(v4l2_packed_frame_size(V4L2_PIX_FMT_MJPEG, 640, 480), 0u);
  EXPECT_EQ(v4l2_packed_frame_size(V4L2_PIX_FMT_YUV420, 0, 480), 0u);
}

TEST(V4l2Fwht, KeyframeFlagFromHeader) {
  uint8_t hdr[44] = {0x4f, 0x4f, 0x4f, 0x4f, 0xff, 0xff, 0xff, 0xff};
  EXPECT_FALSE(fwht_is_keyframe(hdr, sizeof hdr));
  hdr[20 + 2] = 0x04;  // flags (big-endian at offset 20): bit 10 = V4L2_FWHT_FL_I_FRAME
  EXPECT_TRUE(fwht_is_keyframe(hdr, sizeof hdr));
  EXPECT_FALSE(fwht_is_keyframe(hdr, 20));  // truncated
  hdr[0] = 0;
  EXPECT_FALSE(fwht_is_keyframe(hdr, sizeof hdr));  // no magic
}

static V4l2EncoderConfig enc_config(const std::string& dev) {
  V4l2EncoderConfig c;
  c.device = dev;
  c.timeout_ms = 200;
  return c;
}

TEST(V4l2Encoder, MissingDeviceIsNamed) {
  V4l2M2mEncoder e(enc_config("/dev/kvs-edge-no-such-video"));
  std::string err;
  EXPECT_FALSE(e.open(&err));
  EXPECT_NE(err.find("/dev/kvs-edge-no-such-video"), std::string::npos) << err;
  EXPECT_NE(err.find("No such file"), std::string::npos) << err;
  EXPECT_FALSE(e.is_open());
}

TEST(V4l2Encoder, NonV4l2NodesAreRefused) {
  std::string err;
  V4l2M2mEncoder a(enc_config("/dev/null"));
  EXPECT_FALSE(a.open(&err));
  EXPECT_NE(err.find("not a V4L2 device"), std::string::npos) << err;
  V4l2M2mEncoder b(enc_config("/proc/self/status"));
  EXPECT_FALSE(b.open(&err));
  EXPECT_NE(err.find("not a character device"), std::string::npos) << err;
}

TEST(V4l2Encoder, ConfigErrorsAreExplained) {
  std::string err;
  auto c = enc_config("/dev/null");
  c.input_format = V4L2_PIX_FMT_MJPEG;
  V4l2M2mEncoder a(c);
  EXPECT_FALSE(a.open(&err));
  EXPECT_NE(err.find("MJPG"), std::string::npos) << err;
  EXPECT_NE(err.find("NV12"), std::string::npos) << err;
  c = enc_config("/dev/null");
  c.width = 0;
  V4l2M2mEncoder b(c);
  EXPECT_FALSE(b.open(&err));
  EXPECT_NE(err.find("width"), std::string::npos) << err;
}

TEST(V4l2Encoder, EncodeOnAMissingDeviceGivesUpAfterBoundedReopens) {
  auto c = enc_config("/dev/kvs-edge-no-such-video");
  c.max_reopens = 2;
  V4l2M2mEncoder e(c);
  std::vector<uint8_t> raw(v4l2_packed_frame_size(c.input_format, c.width, c.height), 16);
  std::vector<V4l2CodedBuffer> out;
  std::string err;
  EXPECT_FALSE(e.encode({raw.data(), raw.size(), 0}, &out, &err));
  EXPECT_NE(err.find("gave up after 2 reopens"), std::string::npos) << err;
  EXPECT_EQ(e.stats().reopens, 2u);
  EXPECT_TRUE(out.empty());
  // Requests on a closed encoder are recorded, never crash.
  e.request_keyframe();
  e.set_bitrate(300000);
  EXPECT_FALSE(e.drain(&out, &err));
  EXPECT_FALSE(e.poll(10, &out, &err));
}

TEST(V4l2Capture, MjpegIsRejectedWithAClearMessage) {
  V4l2CaptureConfig c;
  c.device = "/dev/null";
  c.formats = {V4L2_PIX_FMT_MJPEG};
  V4l2Capture cap(c);
  std::string err;
  EXPECT_FALSE(cap.open(&err));
  EXPECT_NE(err.find("MJPEG"), std::string::npos) << err;
  EXPECT_NE(err.find("does not decode"), std::string::npos) << err;
}

TEST(V4l2Capture, MissingAndNonV4l2Devices) {
  std::string err;
  V4l2CaptureConfig c;
  c.device = "/dev/kvs-edge-no-such-camera";
  V4l2Capture a(c);
  EXPECT_FALSE(a.open(&err));
  EXPECT_NE(err.find("/dev/kvs-edge-no-such-camera"), std::string::npos) << err;
  c.device = "/dev/zero";
  V4l2Capture b(c);
  EXPECT_FALSE(b.open(&err));
  EXPECT_NE(err.find("not a V4L2 device"), std::string::npos) << err;
  V4l2CapturedFrame f;
  EXPECT_FALSE(b.read_frame(&f, &err));  // not started: an error, not a hang
}

TEST(V4l2Encoder, BoardProfileQuirks) {
  V4l2EncoderConfig c;
  EXPECT_TRUE(apply_v4l2_encoder_quirk("needs-stride-multiple-of-32", &c));
  EXPECT_EQ(c.width_align, 32);
  EXPECT_TRUE(apply_v4l2_encoder_quirk("multiplanar", &c));
  EXPECT_TRUE(c.force_multiplanar);
  EXPECT_TRUE(apply_v4l2_encoder_quirk("no-keyframe-reset", &c));
  EXPECT_FALSE(c.keyframe_by_reset);
  for (const char* info : {"stateful-encoder", "libv4l2-plugin", "jetpack-4", "jetpack-5-6"})
    EXPECT_TRUE(apply_v4l2_encoder_quirk(info, &c)) << info;
  EXPECT_FALSE(apply_v4l2_encoder_quirk("made-up-quirk", &c));
}

TEST(V4l2Encoder, DmabufCallsOnAClosedEncoderFailCleanly) {
  auto c = enc_config("/dev/kvs-edge-no-such-video");
  c.dmabuf_input = true;
  c.max_reopens = 1;
  V4l2M2mEncoder e(c);
  std::vector<V4l2CodedBuffer> out;
  std::vector<uint64_t> released;
  std::string err;
  EXPECT_FALSE(e.encode_dmabuf({-1, 0, 0, 0, 7}, &out, &released, &err));
  EXPECT_FALSE(err.empty());
  EXPECT_TRUE(released.empty());  // nothing was queued, so nothing is handed back
  V4l2CaptureConfig cc;
  cc.device = "/dev/kvs-edge-no-such-camera";
  V4l2Capture cap(cc);
  V4l2CaptureBuffer b;
  EXPECT_FALSE(cap.dequeue_buffer(&b, &err));
  EXPECT_NE(err.find("not started"), std::string::npos) << err;
  EXPECT_FALSE(cap.requeue_buffer(0, &err));
}
