// v4l2_hw_check: runs the project's V4L2 capture source and M2M encoder against real kernel
// drivers. Built statically (scripts/qemu/build.sh) and run as part of the initramfs of a qemu VM
// that boots Debian's kernel: vivid for capture, vicodec (FWHT) for the stateful encoder.
//
//   v4l2_hw_check capture [--expect-mplane]   every vivid capture node
//   v4l2_hw_check encoder [--expect-mplane]   vicodec's stateful encoder node
//   v4l2_hw_check pipeline                    vivid -> vicodec zero-copy through DMABUF
//
// Output: one line per check, "HW ok N - ..." / "HW not ok N - ...", data lines "HW DATA k=v",
// and "HW SUMMARY <mode> pass=P fail=F". Exit status 0 only if every check passed.
#include <dirent.h>
#include <poll.h>

#include <cerrno>
#include <cstdlib>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "v4l2_capture.h"
#include "v4l2_m2m_encoder.h"
#include <chrono>
#include <condition_variable>
#include <mutex>
#include "annexb.h"
#include "h264_encoder.h"
#include "h264_sei.h"
#include "video_pipeline.h"

using namespace kvs::media;

namespace {

int g_n = 0, g_pass = 0, g_fail = 0;

bool check(bool ok, const char* fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  ++g_n;
  (ok ? g_pass : g_fail)++;
  printf("HW %s %d - %s\n", ok ? "ok" : "not ok", g_n, msg);
  fflush(stdout);
  return ok;
}

void data(const std::string& kv) {
  printf("HW DATA %s\n", kv.c_str());
  fflush(stdout);
}

std::string read_line(const std::string& path) {
  std::ifstream f(path);
  std::string s;
  std::getline(f, s);
  return s;
}

// /dev/videoN nodes whose sysfs name satisfies pred, in numeric order.
template <class Pred>
std::vector<std::string> find_nodes(Pred pred) {
  std::vector<std::pair<int, std::string>> found;
  DIR* d = opendir("/sys/class/video4linux");
  if (!d) return {};
  while (dirent* e = readdir(d)) {
    if (strncmp(e->d_name, "video", 5) != 0) continue;
    std::string name = read_line(std::string("/sys/class/video4linux/") + e->d_name + "/name");
    if (pred(name)) found.emplace_back(atoi(e->d_name + 5), std::string("/dev/") + e->d_name);
  }
  closedir(d);
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& f : found) out.push_back(f.second);
  return out;
}

// A test picture in YU12: a 4-pixel checkerboard (texture, so that FWHT codes unchanged blocks
// as P-blocks) with a bright 32x32 square that moves 4 px a frame.
std::vector<uint8_t> make_i420(int w, int h, int index) {
  std::vector<uint8_t> f(size_t(w) * h * 3 / 2);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) f[size_t(y) * w + x] = ((x / 4 + y / 4) & 1) ? 170 : 70;
  const int sx = (index * 4) % (w - 32), sy = h / 2 - 16;
  for (int y = sy; y < sy + 32; ++y)
    for (int x = sx; x < sx + 32; ++x) f[size_t(y) * w + x] = 235;
  // Chroma: U rises left to right, V top to bottom, so that a misplaced or swapped chroma plane
  // shows up after decoding.
  uint8_t* u = f.data() + size_t(w) * h;
  uint8_t* v = u + size_t(w / 2) * (h / 2);
  for (int y = 0; y < h / 2; ++y)
    for (int x = 0; x < w / 2; ++x) {
      u[size_t(y) * (w / 2) + x] = uint8_t(64 + x * 128 / (w / 2));
      v[size_t(y) * (w / 2) + x] = uint8_t(64 + y * 128 / (h / 2));
    }
  return f;
}

std::vector<uint8_t> convert(const std::vector<uint8_t>& i420, int w, int h, uint32_t fmt) {
  if (fmt == V4L2_PIX_FMT_YUV420) return i420;
  const uint8_t* Y = i420.data();
  const uint8_t* U = Y + size_t(w) * h;
  const uint8_t* V = U + size_t(w / 2) * (h / 2);
  std::vector<uint8_t> out;
  if (fmt == V4L2_PIX_FMT_NV12) {
    out.assign(Y, Y + size_t(w) * h);
    for (int i = 0; i < w / 2 * (h / 2); ++i) {
      out.push_back(U[i]);
      out.push_back(V[i]);
    }
  } else {  // YUYV
    out.resize(size_t(w) * h * 2);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; x += 2) {
        uint8_t* o = &out[(size_t(y) * w + x) * 2];
        o[0] = Y[size_t(y) * w + x];
        o[1] = U[size_t(y / 2) * (w / 2) + x / 2];
        o[2] = Y[size_t(y) * w + x + 1];
        o[3] = V[size_t(y / 2) * (w / 2) + x / 2];
      }
  }
  return out;
}

bool fwht_magic(const V4l2CodedBuffer& b) {
  static const uint8_t m[8] = {0x4f, 0x4f, 0x4f, 0x4f, 0xff, 0xff, 0xff, 0xff};
  return b.data.size() > 28 && memcmp(b.data.data(), m, 8) == 0;
}

// ---------------------------------------------------------------- capture (vivid)

void capture_node(const std::string& dev, bool expect_mplane) {
  std::string err;
  {
    V4l2CaptureConfig cfg;
    cfg.device = dev;
    cfg.width = 640;
    cfg.height = 480;
    cfg.fps = 25;
    cfg.formats = {V4L2_PIX_FMT_YUYV};
    V4l2Capture cap(cfg);
    if (!check(cap.open(&err), "capture %s: open YUYV 640x480@25 %s", dev.c_str(), err.c_str()))
      return;
    check(cap.multiplanar() == expect_mplane, "capture %s: %s-planar API", dev.c_str(),
          cap.multiplanar() ? "multi" : "single");
    check(cap.format() == V4L2_PIX_FMT_YUYV && cap.width() == 640 && cap.height() == 480,
          "capture %s: negotiated %s %dx%d", dev.c_str(), v4l2_fourcc_name(cap.format()).c_str(),
          cap.width(), cap.height());
    check(cap.fps() > 24.9 && cap.fps() < 25.1, "capture %s: negotiated %.2f fps (asked 25)",
          dev.c_str(), cap.fps());
    if (!check(cap.start(&err), "capture %s: stream on %s", dev.c_str(), err.c_str())) return;
    const int N = 10;
    std::vector<V4l2CapturedFrame> frames;
    for (int i = 0; i < N; ++i) {
      V4l2CapturedFrame f;
      if (!cap.read_frame(&f, &err)) break;
      frames.push_back(std::move(f));
    }
    check(int(frames.size()) == N, "capture %s: %zu of %d frames captured %s", dev.c_str(),
          frames.size(), N, err.c_str());
    data("capture_frames=" + std::to_string(frames.size()) + " device=" + dev +
         (expect_mplane ? " api=mplane" : " api=single"));
    if (frames.size() < 2) return;
    bool sizes = true, nonblank = true, seq = true, ts = true, mono = true;
    for (size_t i = 0; i < frames.size(); ++i) {
      const auto& f = frames[i];
      sizes = sizes && f.data.size() == 640u * 480u * 2u;
      size_t bright = 0;
      for (size_t k = 0; k < f.data.size(); k += 97) bright += f.data[k] > 16;
      nonblank = nonblank && bright > 100;
      mono = mono && f.monotonic;
      if (i) {
        seq = seq && f.sequence >= frames[i - 1].sequence;
        ts = ts && f.timestamp_us > frames[i - 1].timestamp_us;
      }
    }
    check(sizes, "capture %s: every frame is 640*480*2 bytes", dev.c_str());
    check(nonblank, "capture %s: frames carry the test pattern (not blank)", dev.c_str());
    // vivid numbers a buffer by the frame slot its thread wakes in (jiffies since stream on,
    // rounded): on a loaded host under TCG a late wake-up skips numbers and an early one after it
    // can reuse one. So: never backwards, and moving on over the 10 frames.
    check(seq && frames.back().sequence >= frames.front().sequence + 5,
          "capture %s: driver sequence numbers never go back and advance (%u -> %u)", dev.c_str(),
          frames.front().sequence, frames.back().sequence);
    check(ts && mono, "capture %s: driver timestamps are monotonic clock and increase", dev.c_str());
    const double interval_ms =
        double(frames.back().timestamp_us - frames.front().timestamp_us) / 1000.0 / (frames.size() - 1);
    data("capture_interval_ms=" + std::to_string(interval_ms) +
         (expect_mplane ? " api=mplane" : " api=single"));
    // The driver paces the stream: never faster than 25 fps (40 ms). Slower only when the guest's
    // CPU is starved (TCG on a loaded host), so the upper bound is loose: a figure, not a timer.
    check(interval_ms > 30 && interval_ms < 250,
          "capture %s: mean timestamp interval %.1f ms (25 fps = 40 ms; more on a loaded host)", dev.c_str(), interval_ms);
  }
  {
    // 320x240 is not among the sizes of vivid's webcam input: the driver picks the nearest and
    // the source reports and delivers that size.
    V4l2CaptureConfig cfg;
    cfg.device = dev;
    cfg.width = 320;
    cfg.height = 240;
    cfg.fps = 25;
    cfg.formats = {V4L2_PIX_FMT_NV12};
    V4l2Capture cap(cfg);
    bool ok = cap.open(&err) && cap.start(&err);
    V4l2CapturedFrame f;
    ok = ok && cap.read_frame(&f, &err);
    data("capture_nv12_negotiated=" + std::to_string(cap.width()) + "x" + std::to_string(cap.height()));
    check(ok && f.format == V4L2_PIX_FMT_NV12 && f.width == cap.width() && f.height == cap.height() &&
              f.data.size() == size_t(cap.width()) * cap.height() * 3 / 2 && cap.width() > 0,
          "capture %s: NV12 asked 320x240, negotiated %dx%d, frame of %zu bytes %s", dev.c_str(),
          cap.width(), cap.height(), f.data.size(), err.c_str());
  }
  {
    V4l2CaptureConfig cfg;
    cfg.device = dev;
    cfg.formats = {V4L2_PIX_FMT_MJPEG};
    V4l2Capture cap(cfg);
    err.clear();
    bool opened = cap.open(&err);
    check(!opened && err.find("MJPEG") != std::string::npos, "capture %s: MJPEG rejected: %s",
          dev.c_str(), err.c_str());
  }
  {
    // A device that does not have the format: the message lists what it offers.
    V4l2CaptureConfig cfg;
    cfg.device = dev;
    cfg.formats = {V4L2_PIX_FMT_H264};
    V4l2Capture cap(cfg);
    err.clear();
    bool opened = cap.open(&err);
    check(!opened && err.find("offers") != std::string::npos && err.find("YUYV") != std::string::npos,
          "capture %s: H264 not offered by vivid, reported: %.120s", dev.c_str(), err.c_str());
  }
}

int run_capture(bool expect_mplane) {
  auto nodes = find_nodes([](const std::string& n) {
    return n.rfind("vivid-", 0) == 0 && n.find("vid-cap") != std::string::npos;
  });
  if (!check(!nodes.empty(), "capture: found a vivid video capture node")) return 1;
  for (const auto& n : nodes) capture_node(n, expect_mplane);
  return 0;
}

// ---------------------------------------------------------------- encoder (vicodec)

struct Enc {
  V4l2M2mEncoder enc;
  std::vector<V4l2CodedBuffer> out;
  std::string err;
  int next = 0;
  int w, h;
  uint32_t fmt;
  explicit Enc(V4l2EncoderConfig c) : enc(c), w(c.width), h(c.height), fmt(c.input_format) {}
  bool push() {
    auto raw = convert(make_i420(w, h, next), w, h, fmt);
    V4l2RawFrame f{raw.data(), raw.size(), 1000000 + int64_t(next) * 40000};
    ++next;
    return enc.encode(f, &out, &err);
  }
  // Waits (bounded) until `count` coded buffers have been collected in total.
  bool wait_for(size_t count) {
    for (int i = 0; i < 50 && out.size() < count; ++i)
      if (!enc.poll(100, &out, &err)) return false;
    return out.size() >= count;
  }
};

V4l2EncoderConfig vicodec_config(const std::string& dev, uint32_t input) {
  V4l2EncoderConfig c;
  c.device = dev;
  c.coded_format = V4L2_PIX_FMT_FWHT;
  c.input_format = input;
  c.width = 640;
  c.height = 480;
  c.fps = 25;
  c.bitrate_bps = 1000000;
  c.idr_period = 1000;  // vicodec clamps this to 16: no periodic I-frame within the test
  c.timeout_ms = 5000;
  return c;
}

const V4l2ControlResult* find_control(const V4l2M2mEncoder& e, const std::string& name) {
  for (const auto& c : e.controls())
    if (c.name == name) return &c;
  return nullptr;
}

// Decodes coded FWHT buffers with vicodec's stateful decoder (the kernel's own inverse of the
// encoder) into `fmt`, following the kernel's decoder interface: OUTPUT first, the SOURCE_CHANGE
// event, then CAPTURE. Returns decoded frames, tightly packed, in decode order.
struct DecodeResult {
  std::vector<std::vector<uint8_t>> frames;
  std::string error;
};

DecodeResult vicodec_decode(const std::vector<V4l2CodedBuffer>& coded, uint32_t fmt, int w, int h) {
  DecodeResult res;
  auto nodes = find_nodes([](const std::string& n) { return n == "stateful-decoder"; });
  if (nodes.size() != 1) {
    res.error = "no stateful-decoder node";
    return res;
  }
  V4l2Device d;
  if (!d.open(nodes[0], true, &res.error)) return res;
  const bool mp = !(d.device_caps() & V4L2_CAP_VIDEO_M2M);
  const uint32_t out_t = mp ? V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE : V4L2_BUF_TYPE_VIDEO_OUTPUT;
  const uint32_t cap_t = mp ? V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE : V4L2_BUF_TYPE_VIDEO_CAPTURE;
  auto fail = [&](const char* what, int r) {
    res.error = std::string(what) + ": " + v4l2_errno_text(r);
    return res;
  };
  v4l2_event_subscription sub{};
  sub.type = V4L2_EVENT_SOURCE_CHANGE;
  if (int r = d.ioctl(VIDIOC_SUBSCRIBE_EVENT, &sub)) return fail("subscribe", r);
  const uint32_t max_coded = uint32_t(w) * h * 3 + 4096;
  v4l2_format f{};
  f.type = out_t;
  if (mp) {
    f.fmt.pix_mp.pixelformat = V4L2_PIX_FMT_FWHT;
    f.fmt.pix_mp.width = w;
    f.fmt.pix_mp.height = h;
    f.fmt.pix_mp.num_planes = 1;
    f.fmt.pix_mp.plane_fmt[0].sizeimage = max_coded;
  } else {
    f.fmt.pix.pixelformat = V4L2_PIX_FMT_FWHT;
    f.fmt.pix.width = w;
    f.fmt.pix.height = h;
    f.fmt.pix.sizeimage = max_coded;
  }
  if (int r = d.ioctl(VIDIOC_S_FMT, &f)) return fail("S_FMT(OUTPUT)", r);
  struct Buf {
    void* p;
    size_t len;
  };
  // Buffers through the same queue helper the capture source and the encoder use.
  V4l2BufferQueue oq(d, out_t, "OUTPUT"), cq(d, cap_t, "CAPTURE");
  auto alloc = [&](V4l2BufferQueue& q, int count, std::vector<Buf>* bufs) -> int {
    std::string e;
    if (!q.allocate(V4L2_MEMORY_MMAP, mp, count, &e)) {
      std::printf("HW # %s\n", e.c_str());
      return d.last_error() ? -d.last_error() : -ENOMEM;
    }
    for (size_t i = 0; i < q.size(); ++i) bufs->push_back({q.planes(i)[0].addr, q.planes(i)[0].length});
    return 0;
  };
  auto qbuf = [&](uint32_t type, uint32_t index, uint32_t used, size_t len) {
    v4l2_plane pl[VIDEO_MAX_PLANES]{};
    v4l2_buffer b{};
    b.index = index;
    b.type = type;
    b.memory = V4L2_MEMORY_MMAP;
    if (mp) {
      b.m.planes = pl;
      b.length = 1;
      pl[0].bytesused = used;
      pl[0].length = uint32_t(len);
    } else {
      b.bytesused = used;
      b.length = uint32_t(len);
    }
    return d.ioctl(VIDIOC_QBUF, &b);
  };
  // dequeue: returns index, or -errno; *used and *flags filled.
  auto dqbuf = [&](uint32_t type, uint32_t* used, uint32_t* flags) {
    v4l2_plane pl[VIDEO_MAX_PLANES]{};
    v4l2_buffer b{};
    b.type = type;
    b.memory = V4L2_MEMORY_MMAP;
    if (mp) {
      b.m.planes = pl;
      b.length = VIDEO_MAX_PLANES;
    }
    int r = d.ioctl(VIDIOC_DQBUF, &b);
    if (r) return r;
    *used = mp ? pl[0].bytesused : b.bytesused;
    *flags = b.flags;
    return int(b.index);
  };
  std::vector<Buf> obufs, cbufs;
  if (int r = alloc(oq, 2, &obufs)) return fail("REQBUFS(OUTPUT)", r);
  int t = int(out_t);
  if (int r = d.ioctl(VIDIOC_STREAMON, &t)) return fail("STREAMON(OUTPUT)", r);
  std::vector<bool> out_busy(obufs.size(), false);
  size_t next = 0;
  auto feed = [&]() -> int {  // queue the next coded frame if an OUTPUT buffer is free
    uint32_t used, flags;
    for (int k = 0; k < 4; ++k) {
      int i = dqbuf(out_t, &used, &flags);
      if (i < 0) break;
      out_busy[i] = false;
    }
    for (size_t i = 0; i < obufs.size() && next < coded.size(); ++i) {
      if (out_busy[i]) continue;
      const auto& c = coded[next];
      if (c.data.size() > obufs[i].len) return -EMSGSIZE;
      memcpy(obufs[i].p, c.data.data(), c.data.size());
      if (int r = qbuf(out_t, uint32_t(i), uint32_t(c.data.size()), obufs[i].len)) return r;
      out_busy[i] = true;
      ++next;
    }
    return 0;
  };
  if (int r = feed()) return fail("queue coded frame", r);
  bool changed = false;
  for (int k = 0; k < 50 && !changed; ++k) {
    d.poll(POLLPRI, 100);
    v4l2_event ev{};
    if (d.ioctl(VIDIOC_DQEVENT, &ev) == 0 && ev.type == V4L2_EVENT_SOURCE_CHANGE) changed = true;
  }
  if (!changed) {
    res.error = "no SOURCE_CHANGE event from the decoder";
    return res;
  }
  v4l2_format cf{};
  cf.type = cap_t;
  if (mp) {
    cf.fmt.pix_mp.pixelformat = fmt;
    cf.fmt.pix_mp.width = w;
    cf.fmt.pix_mp.height = h;
    cf.fmt.pix_mp.num_planes = 1;
  } else {
    cf.fmt.pix.pixelformat = fmt;
    cf.fmt.pix.width = w;
    cf.fmt.pix.height = h;
  }
  if (int r = d.ioctl(VIDIOC_S_FMT, &cf)) return fail("S_FMT(CAPTURE)", r);
  const uint32_t got = mp ? cf.fmt.pix_mp.pixelformat : cf.fmt.pix.pixelformat;
  const uint32_t bpl = mp ? cf.fmt.pix_mp.plane_fmt[0].bytesperline : cf.fmt.pix.bytesperline;
  const uint32_t want_bpl = fmt == V4L2_PIX_FMT_YUYV ? 2 * w : w;
  if (got != fmt || bpl != want_bpl) {
    res.error = "decoder CAPTURE format " + v4l2_fourcc_name(got) + " bpl " + std::to_string(bpl);
    return res;
  }
  if (int r = alloc(cq, 4, &cbufs)) return fail("REQBUFS(CAPTURE)", r);
  for (uint32_t i = 0; i < cbufs.size(); ++i)
    if (int r = qbuf(cap_t, i, 0, cbufs[i].len)) return fail("QBUF(CAPTURE)", r);
  t = int(cap_t);
  if (int r = d.ioctl(VIDIOC_STREAMON, &t)) return fail("STREAMON(CAPTURE)", r);
  const size_t frame_size = v4l2_packed_frame_size(fmt, w, h);
  for (int k = 0; k < 200 && res.frames.size() < coded.size(); ++k) {
    if (int r = feed()) return fail("queue coded frame", r);
    d.poll(POLLIN, 50);
    uint32_t used = 0, flags = 0;
    int i = dqbuf(cap_t, &used, &flags);
    if (i == -EAGAIN) continue;
    if (i < 0) return fail("DQBUF(CAPTURE)", i);
    if (!(flags & V4L2_BUF_FLAG_ERROR) && used >= frame_size) {
      const uint8_t* p = static_cast<const uint8_t*>(cbufs[i].p);
      res.frames.emplace_back(p, p + frame_size);
    }
    if (int r = qbuf(cap_t, uint32_t(i), 0, cbufs[i].len)) return fail("QBUF(CAPTURE)", r);
  }
  return res;  // the queues unmap their buffers
}

// Mean absolute difference per component (Y, U, V) between two packed frames of `fmt`.
void component_mad(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b, uint32_t fmt,
                   int w, int h, double mad[3]) {
  double sum[3] = {0, 0, 0};
  size_t n[3] = {0, 0, 0};
  auto add = [&](int c, size_t i) {
    sum[c] += std::abs(int(a[i]) - int(b[i]));
    ++n[c];
  };
  const size_t ys = size_t(w) * h, cs = size_t(w / 2) * (h / 2);
  if (fmt == V4L2_PIX_FMT_YUYV) {
    for (size_t i = 0; i < ys * 2; ++i) add((i % 2 == 0) ? 0 : (i % 4 == 1 ? 1 : 2), i);
  } else if (fmt == V4L2_PIX_FMT_NV12) {
    for (size_t i = 0; i < ys; ++i) add(0, i);
    for (size_t i = 0; i < 2 * cs; ++i) add(1 + int(i % 2), ys + i);
  } else {
    for (size_t i = 0; i < ys; ++i) add(0, i);
    for (size_t i = 0; i < cs; ++i) add(1, ys + i);
    for (size_t i = 0; i < cs; ++i) add(2, ys + cs + i);
  }
  for (int c = 0; c < 3; ++c) mad[c] = n[c] ? sum[c] / double(n[c]) : 999;
}

// Encoded frames decode back to the pictures that went in: the raw layout the encoder wrote
// into the driver's buffers (strides, chroma planes) is right.
void check_round_trip(const char* api, uint32_t fmt, const std::vector<V4l2CodedBuffer>& coded,
                      int w, int h) {
  DecodeResult dec = vicodec_decode(coded, fmt, w, h);
  const std::string name = v4l2_fourcc_name(fmt);
  if (!check(dec.frames.size() == coded.size(), "encoder[%s]: %s: vicodec's decoder decoded %zu of %zu frames %s",
             api, name.c_str(), dec.frames.size(), coded.size(), dec.error.c_str()))
    return;
  double worst[3] = {0, 0, 0}, shifted_y = 0, swapped_uv = 0;
  for (size_t i = 0; i < dec.frames.size(); ++i) {
    const auto src = convert(make_i420(w, h, int(i)), w, h, fmt);
    double mad[3];
    component_mad(dec.frames[i], src, fmt, w, h, mad);
    for (int c = 0; c < 3; ++c) worst[c] = std::max(worst[c], mad[c]);
    if (i == 0) {
      // Controls: the same comparison against wrong pictures must fail clearly.
      double m2[3];
      auto shifted = make_i420(w, h, 0);  // luma moved 4 px right, as a stride error would
      for (int y = 0; y < h; ++y)
        std::rotate(shifted.begin() + size_t(y) * w, shifted.begin() + size_t(y) * w + (w - 4),
                    shifted.begin() + size_t(y + 1) * w);
      component_mad(dec.frames[i], convert(shifted, w, h, fmt), fmt, w, h, m2);
      shifted_y = m2[0];
      auto swapped = make_i420(w, h, 0);
      std::swap_ranges(swapped.begin() + w * h, swapped.begin() + w * h + (w / 2) * (h / 2),
                       swapped.begin() + w * h + (w / 2) * (h / 2));
      component_mad(dec.frames[i], convert(swapped, w, h, fmt), fmt, w, h, m2);
      swapped_uv = std::max(m2[1], m2[2]);
    }
  }
  data(std::string("roundtrip_") + name + "_mad=" + std::to_string(worst[0]) + "," +
       std::to_string(worst[1]) + "," + std::to_string(worst[2]) + " api=" + api);
  check(worst[0] < 6 && worst[1] < 4 && worst[2] < 4,
        "encoder[%s]: %s: decoded pictures match the input (mean abs diff Y %.2f U %.2f V %.2f)",
        api, name.c_str(), worst[0], worst[1], worst[2]);
  check(shifted_y > 20 && swapped_uv > 10,
        "encoder[%s]: %s: ...and do not match wrong pictures (luma moved 4 px: Y %.2f, U/V swapped: %.2f)",
        api, name.c_str(), shifted_y, swapped_uv);
}

int run_encoder(bool expect_mplane) {
  auto nodes = find_nodes([](const std::string& n) { return n == "stateful-encoder"; });
  if (!check(nodes.size() == 1, "encoder: found vicodec's stateful-encoder node")) return 1;
  const std::string dev = nodes[0];
  const char* api = expect_mplane ? "mplane" : "single";

  Enc e(vicodec_config(dev, V4L2_PIX_FMT_YUV420));
  if (!check(e.enc.open(&e.err), "encoder[%s]: open %s FWHT from YU12 640x480 %s", api,
             dev.c_str(), e.err.c_str()))
    return 1;
  check(e.enc.driver() == "vicodec", "encoder[%s]: driver is %s", api, e.enc.driver().c_str());
  check(e.enc.multiplanar() == expect_mplane, "encoder[%s]: %s-planar API in use", api,
        e.enc.multiplanar() ? "multi" : "single");
  const auto* gop = find_control(e.enc, "gop_size");
  const auto* br = find_control(e.enc, "bitrate");
  const auto* fk = find_control(e.enc, "force_key_frame");
  check(gop && gop->applied && gop->value == 16 && gop->detail.find("clamped") != std::string::npos,
        "encoder[%s]: GOP size applied, clamped to vicodec's maximum: %s", api,
        gop ? gop->detail.c_str() : "?");
  check(br && !br->applied && br->detail.find("not supported") != std::string::npos,
        "encoder[%s]: bitrate control reported missing: %s", api, br ? br->detail.c_str() : "?");
  check(fk && !fk->applied, "encoder[%s]: FORCE_KEY_FRAME reported missing: %s", api,
        fk ? fk->detail.c_str() : "?");

  // 1. Frames in, compressed buffers out.
  bool pushed = true;
  for (int i = 0; i < 8 && pushed; ++i) pushed = e.push();
  check(pushed, "encoder[%s]: 8 frames queued %s", api, e.err.c_str());
  check(e.wait_for(8) && e.out.size() == 8, "encoder[%s]: 8 compressed buffers out (got %zu) %s",
        api, e.out.size(), e.err.c_str());
  if (e.out.size() < 8) return 1;
  bool magic = true, ts = true, smaller = e.out[0].data.size() < 640u * 480u * 3u / 2u;
  for (int i = 0; i < 8; ++i) {
    magic = magic && fwht_magic(e.out[i]);
    ts = ts && e.out[i].timestamp_us == 1000000 + int64_t(i) * 40000;
    if (i) smaller = smaller && e.out[i].data.size() < 640u * 480u * 3u / 2u / 4u;
  }
  check(magic, "encoder[%s]: every buffer is an FWHT frame (magic header)", api);
  check(ts, "encoder[%s]: OUTPUT timestamps come back on the CAPTURE buffers", api);
  check(smaller, "encoder[%s]: compressed: I-frame %zu bytes, P-frame %zu bytes (raw 460800)",
        api, e.out[0].data.size(), e.out[1].data.size());
  int keys = 0;
  for (int i = 0; i < 8; ++i) keys += e.out[i].keyframe;
  check(e.out[0].keyframe && keys == 1, "encoder[%s]: first buffer is the only I-frame (%d of 8)",
        api, keys);
  data(std::string("encoder_frames=8 encoder_keyframes=") + std::to_string(keys) + " api=" + api);
  check_round_trip(api, V4L2_PIX_FMT_YUV420, std::vector<V4l2CodedBuffer>(e.out.begin(), e.out.begin() + 8), 640, 480);

  // 2. Force keyframe: no control on vicodec, so the Reset sequence gives the I-frame.
  e.enc.request_keyframe();
  bool ok = e.push() && e.push() && e.push() && e.wait_for(11);
  check(ok && e.out.size() == 11, "encoder[%s]: 3 more frames after a keyframe request (%zu) %s",
        api, e.out.size(), e.err.c_str());
  if (e.out.size() >= 11) {
    check(e.out[8].keyframe && !e.out[9].keyframe && !e.out[10].keyframe,
          "encoder[%s]: the frame after the request is an I-frame, the next are P-frames", api);
    check(e.out[8].timestamp_us == 1000000 + 8 * 40000,
          "encoder[%s]: the forced I-frame is the requested frame (timestamp)", api);
  }
  check(e.enc.stats().keyframe_requests == 1 && e.enc.stats().keyframes_forced_by_reset == 1,
        "encoder[%s]: stats count 1 request answered by the Reset sequence", api);
  data(std::string("encoder_forced_keyframe=") + (e.out.size() >= 9 && e.out[8].keyframe ? "1" : "0") +
       " api=" + api);

  // 3. Bitrate while running: vicodec has none; reported, and encoding goes on.
  e.enc.set_bitrate(500000);
  ok = e.push() && e.wait_for(12);
  check(ok && !e.enc.last_bitrate_change().applied &&
            e.enc.last_bitrate_change().name == "bitrate",
        "encoder[%s]: runtime bitrate change reported (%s), encoding continues", api,
        e.enc.last_bitrate_change().detail.c_str());

  // 4. Drain: queue 3 frames, then V4L2_ENC_CMD_STOP; all 3 come out and the LAST flag ends it.
  // (The encoder resumes by STREAMOFF/STREAMON on CAPTURE, so the next frame is an I-frame.)
  const size_t before = e.out.size();
  ok = e.push() && e.push() && e.push();
  const uint64_t eos_before = e.enc.stats().eos_events;
  check(ok && !e.out.empty() && !e.out.back().keyframe, "encoder[%s]: P-frames before the drain", api);
  ok = ok && e.enc.drain(&e.out, &e.err);
  check(ok, "encoder[%s]: drain ended with a LAST buffer %s", api, e.err.c_str());
  check(e.out.size() - before == 3, "encoder[%s]: drain delivered the %zu frames queued before it",
        api, e.out.size() - before);
  check(e.enc.stats().frames_in == e.enc.stats().buffers_out,
        "encoder[%s]: every frame in has come out (%llu in, %llu out)", api,
        (unsigned long long)e.enc.stats().frames_in, (unsigned long long)e.enc.stats().buffers_out);
  check(e.enc.stats().eos_events > eos_before, "encoder[%s]: V4L2_EVENT_EOS seen after the drain",
        api);
  data(std::string("encoder_drained=") + std::to_string(e.out.size() - before) + " api=" + api);

  // 5. After the drain, V4L2_ENC_CMD_START resumes encoding.
  const size_t after_drain = e.out.size();
  ok = e.push() && e.push() && e.wait_for(after_drain + 2);
  check(ok && e.out.size() == after_drain + 2, "encoder[%s]: encoding resumes after drain %s", api,
        e.err.c_str());
  if (e.out.size() == after_drain + 2)
    check(e.out[after_drain].keyframe && !e.out[after_drain + 1].keyframe,
          "encoder[%s]: the resumed stream starts with an I-frame", api);

  // 6. Recovery: the device fails under the encoder; encode() reopens and goes on.
  e.enc.device_for_test().break_for_test();
  const size_t before_fault = e.out.size();
  ok = e.push() && e.wait_for(before_fault + 1);
  check(ok && e.enc.stats().reopens == 1, "encoder[%s]: device failure -> reopened (%llu) %s", api,
        (unsigned long long)e.enc.stats().reopens, e.err.c_str());
  check(e.out.size() > before_fault && e.out[before_fault].keyframe,
        "encoder[%s]: the stream after the reopen starts with an I-frame", api);
  data(std::string("encoder_reopens=") + std::to_string(e.enc.stats().reopens) + " api=" + api);
  e.enc.close();

  // 7. The other raw input formats.
  for (uint32_t fmt : {uint32_t(V4L2_PIX_FMT_NV12), uint32_t(V4L2_PIX_FMT_YUYV)}) {
    Enc x(vicodec_config(dev, fmt));
    bool good = x.enc.open(&x.err) && x.push() && x.push() && x.push() && x.wait_for(3);
    check(good && x.out.size() == 3 && fwht_magic(x.out[0]) && x.out[0].keyframe,
          "encoder[%s]: %s input encodes (%zu buffers) %s", api, v4l2_fourcc_name(fmt).c_str(),
          x.out.size(), x.err.c_str());
    x.enc.close();
    if (x.out.size() == 3) check_round_trip(api, fmt, x.out, 640, 480);
  }
  // 8. Asking vicodec for H.264: a clear refusal naming what it can do.
  {
    auto c = vicodec_config(dev, V4L2_PIX_FMT_YUV420);
    c.coded_format = V4L2_PIX_FMT_H264;
    V4l2M2mEncoder h(c);
    std::string err;
    bool opened = h.open(&err);
    check(!opened && err.find("H264") != std::string::npos && err.find("FWHT") != std::string::npos,
          "encoder[%s]: H.264 refused: %s", api, err.c_str());
  }
  return 0;
}

// ---------------------------------------------------------------- zero-copy: vivid -> vicodec

// Capture buffers exported as DMABUF (VIDIOC_EXPBUF) and imported by the encoder's OUTPUT queue:
// no copy of the picture in user space.
int run_pipeline() {
  auto cams = find_nodes([](const std::string& n) {
    return n.rfind("vivid-", 0) == 0 && n.find("vid-cap") != std::string::npos;
  });
  auto encs = find_nodes([](const std::string& n) { return n == "stateful-encoder"; });
  if (!check(cams.size() == 1 && encs.size() == 1, "pipeline: vivid and vicodec nodes present"))
    return 1;
  const int w = 640, h = 480;
  V4l2CaptureConfig cc;
  cc.device = cams[0];
  cc.width = w;
  cc.height = h;
  cc.fps = 25;
  cc.formats = {V4L2_PIX_FMT_YUV420};
  cc.export_dmabuf = true;
  V4l2Capture cap(cc);
  std::string err;
  if (!check(cap.open(&err) && cap.start(&err), "pipeline: vivid YU12 640x480 with DMABUF export %s",
             err.c_str()))
    return 1;
  auto ec = vicodec_config(encs[0], V4L2_PIX_FMT_YUV420);
  ec.dmabuf_input = true;
  V4l2M2mEncoder enc(ec);
  if (!check(enc.open(&err), "pipeline: vicodec opened with DMABUF OUTPUT queue %s", err.c_str()))
    return 1;
  check(enc.output_bytesperline() == cap.bytesperline() && cap.width() == w && cap.height() == h,
        "pipeline: layouts agree (encoder bytesperline %u, camera %u)", enc.output_bytesperline(),
        cap.bytesperline());
  const size_t frame_size = v4l2_packed_frame_size(V4L2_PIX_FMT_YUV420, w, h);
  std::vector<std::vector<uint8_t>> captured;
  std::vector<int64_t> stamps;
  std::vector<V4l2CodedBuffer> out;
  std::vector<uint64_t> released;
  int held = 0;
  bool ok = true;
  const int N = 10;
  for (int i = 0; i < N && ok; ++i) {
    V4l2CaptureBuffer cb;
    ok = cap.dequeue_buffer(&cb, &err) && cb.dmabuf_fd >= 0 && cb.bytesused >= frame_size;
    if (!ok) break;
    ++held;
    captured.emplace_back(cb.data, cb.data + frame_size);  // kept only to verify the result
    stamps.push_back(cb.timestamp_us);
    ok = enc.encode_dmabuf({cb.dmabuf_fd, cb.bytesused, cb.length, cb.timestamp_us, cb.index}, &out,
                           &released, &err);
    for (uint64_t idx : released) {
      ok = ok && cap.requeue_buffer(uint32_t(idx), &err);
      --held;
    }
    released.clear();
  }
  check(ok, "pipeline: %d camera buffers encoded in place %s", N, err.c_str());
  ok = enc.drain(&out, &err);
  for (uint64_t idx : enc.take_released()) {
    cap.requeue_buffer(uint32_t(idx), &err);
    --held;
  }
  check(ok && out.size() == size_t(N), "pipeline: %zu coded buffers after drain %s", out.size(),
        err.c_str());
  check(held == 0, "pipeline: every camera buffer came back from the encoder (%d still held)", held);
  bool ts = out.size() == stamps.size();
  for (size_t i = 0; ts && i < out.size(); ++i) ts = out[i].timestamp_us == stamps[i];
  check(ts, "pipeline: coded buffers carry the camera's driver timestamps");
  data("pipeline_frames=" + std::to_string(out.size()) + " api=single");
  enc.close();
  DecodeResult dec = vicodec_decode(out, V4L2_PIX_FMT_YUV420, w, h);
  if (!check(dec.frames.size() == captured.size(), "pipeline: decoded %zu of %zu %s",
             dec.frames.size(), captured.size(), dec.error.c_str()))
    return 1;
  double worst[3] = {0, 0, 0};
  for (size_t i = 0; i < dec.frames.size(); ++i) {
    double mad[3];
    component_mad(dec.frames[i], captured[i], V4L2_PIX_FMT_YUV420, w, h, mad);
    for (int c = 0; c < 3; ++c) worst[c] = std::max(worst[c], mad[c]);
  }
  data("pipeline_mad=" + std::to_string(worst[0]) + "," + std::to_string(worst[1]) + "," +
       std::to_string(worst[2]) + " api=single");
  check(worst[0] < 8 && worst[1] < 6 && worst[2] < 6,
        "pipeline: decoded pictures match what the camera captured (Y %.2f U %.2f V %.2f)",
        worst[0], worst[1], worst[2]);
  return 0;
}

// ------------------------------------------------ the runtime's pipeline: vivid -> VideoPipeline

// What `video.source: v4l2` + `video.encoder: auto` does on a board whose encoder node is
// vicodec: the capture source negotiates with vivid, `auto` opens the M2M node, finds it does not
// encode H.264 (vicodec is FWHT) and falls back to openh264, naming why; frames flow with the
// driver's timestamps and capture-timestamp SEI. `v4l2m2m` refuses instead of falling back.
int run_media_pipeline() {
  auto cams = find_nodes([](const std::string& n) {
    return n.rfind("vivid-", 0) == 0 && n.find("vid-cap") != std::string::npos;
  });
  auto encs = find_nodes([](const std::string& n) { return n == "stateful-encoder"; });
  if (!check(cams.size() == 1 && encs.size() == 1, "media-pipeline: vivid and vicodec nodes present")) return 1;
  VideoConfig c;
  c.source = "v4l2";
  c.device = cams[0];
  c.width = 640;
  c.height = 480;
  c.fps = 25;
  c.encoder = "auto";
  c.encoder_device = encs[0];
  c.capture_timestamps = true;
  struct Got {
    int64_t t;
    bool idr_au, sei;
    uint32_t w, h;
  };
  std::mutex m;
  std::condition_variable cv;
  std::vector<Got> got;
  std::string err;
  auto p = VideoPipeline::create(c, [&](EncodedFramePtr f) {
    bool sei = false;
    for (const NalUnit& n : split_annexb(f->data.data(), f->data.size())) {
      uint64_t ts;
      if (n.type() == kNalSei && find_timestamp_sei(n.data, n.size, &ts)) sei = true;
    }
    std::lock_guard lock(m);
    got.push_back({f->capture_time_us, is_h264_idr_access_unit(f->data.data(), f->data.size()), sei, f->width, f->height});
    cv.notify_all();
  }, &err);
  if (!check(p != nullptr, "media-pipeline: v4l2 source + auto encoder created %s", err.c_str())) return 1;
  VideoPipelineStats s = p->stats();
  data("media_pipeline_encoder=" + s.encoder);
  check(s.encoder == "openh264", "media-pipeline: auto chose %s", s.encoder.c_str());
  check(s.encoder_reason.find(encs[0]) != std::string::npos && s.encoder_reason.find("H264") != std::string::npos &&
            s.encoder_reason.find("software encoder") != std::string::npos,
        "media-pipeline: the reason names the node and H.264: %s", s.encoder_reason.c_str());
  check(s.source.find("vivid") != std::string::npos, "media-pipeline: source %s", s.source.c_str());
  p->start();
  {
    std::unique_lock lock(m);
    cv.wait_for(lock, std::chrono::seconds(30), [&] { return got.size() >= 12; });
  }
  p->stop();
  s = p->stats();
  std::unique_lock lock(m);
  data("media_pipeline_frames=" + std::to_string(got.size()));
  check(got.size() >= 12, "media-pipeline: %zu H.264 frames from the camera", got.size());
  if (got.empty()) return 1;
  check(got[0].idr_au, "media-pipeline: the first access unit is an IDR with SPS");
  bool sei = true, mono = true;
  for (size_t i = 0; i < got.size(); ++i) {
    sei = sei && got[i].sei;
    if (i) mono = mono && got[i].t > got[i - 1].t;
  }
  check(sei, "media-pipeline: every frame carries the capture-timestamp SEI");
  const double interval = got.size() > 1 ? double(got.back().t - got.front().t) / 1000.0 / double(got.size() - 1) : 0;
  data("media_pipeline_interval_ms=" + std::to_string(interval) + " media_pipeline_size=" + std::to_string(got[0].w) + "x" + std::to_string(got[0].h));
  check(mono && interval > 30 && interval < 250, "media-pipeline: driver timestamps %.1f ms apart at 25 fps (40 ms; more on a loaded host)", interval);
  check(s.encode_errors == 0, "media-pipeline: no encode errors (%llu)", (unsigned long long)s.encode_errors);

  p.reset();  // closes the camera, so the next pipelines can open it

  // auto's run-time check: a M2M encoder that opens but gives no H.264 (vicodec asked for FWHT
  // through the test hook) is dropped for openh264 after its first frames, with the reason.
  {
    H264EncoderSettings es;
    es.device = encs[0];
    es.width = 640;
    es.height = 480;
    es.fps = 25;
    es.coded_format_for_test = V4L2_PIX_FMT_FWHT;
    std::string e;
    auto enc = open_h264_encoder(es, &e);
    check(enc && enc->info().name == "v4l2m2m", "auto-verify: vicodec opened as the hardware encoder %s", e.c_str());
    if (enc) {
      I420Frame pic;
      pic.allocate(640, 480);
      std::vector<EncodedFramePtr> out;
      int changes = 0, hw_out = 0;
      bool ok = true;
      for (int i = 0; i < 12 && ok; ++i) {
        for (size_t k = 0; k < pic.buffer.size(); ++k) pic.buffer[k] = uint8_t(k * 7 + i * 3);
        std::vector<EncodedFramePtr> got;
        ok = enc->encode(pic, int64_t(i) * 40000, &got, &e);
        if (enc->take_info_change()) ++changes;
        if (changes == 0) hw_out += int(got.size());
        for (auto& f : got) out.push_back(f);
      }
      const H264EncoderInfo info = enc->info();
      data("auto_verify_encoder=" + info.name);
      check(ok && changes == 1 && info.name == "openh264", "auto-verify: switched once to %s %s", info.name.c_str(), e.c_str());
      check(info.reason.find("gave no H.264 IDR access unit") != std::string::npos, "auto-verify: reason: %s", info.reason.c_str());
      check(hw_out > 0, "auto-verify: vicodec did produce %d (FWHT) buffers before the switch", hw_out);
      bool idr_after = false;
      for (size_t k = size_t(hw_out); k < out.size(); ++k) idr_after = idr_after || is_h264_idr_access_unit(out[k]->data.data(), out[k]->data.size());
      check(idr_after, "auto-verify: the first openh264 frame after the switch is an IDR with SPS");
    }
  }
  c.encoder = "v4l2m2m";
  std::string err2;
  auto refused = VideoPipeline::create(c, [](EncodedFramePtr) {}, &err2);
  check(!refused && err2.find("video.encoder v4l2m2m") != std::string::npos && err2.find("H264") != std::string::npos,
        "media-pipeline: v4l2m2m on vicodec is refused: %s", err2.c_str());
  c.encoder = "auto";
  c.capture_format = "MJPG";
  auto mjpeg = VideoPipeline::create(c, [](EncodedFramePtr) {}, &err2);
  check(!mjpeg && err2.find("does not decode JPEG") != std::string::npos, "media-pipeline: MJPEG refused: %s", err2.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  if (argc < 2) {
    fprintf(stderr, "usage: %s capture|encoder [--expect-mplane]\n", argv[0]);
    return 2;
  }
  const std::string mode = argv[1];
  const bool mplane = argc > 2 && std::string(argv[2]) == "--expect-mplane";
  if (mode == "capture")
    run_capture(mplane);
  else if (mode == "encoder")
    run_encoder(mplane);
  else if (mode == "pipeline")
    run_pipeline();
  else if (mode == "media-pipeline")
    run_media_pipeline();
  else {
    fprintf(stderr, "unknown mode %s\n", mode.c_str());
    return 2;
  }
  printf("HW SUMMARY %s%s pass=%d fail=%d\n", mode.c_str(), mplane ? "-mplane" : "", g_pass, g_fail);
  return g_fail == 0 && g_pass > 0 ? 0 : 1;
}
