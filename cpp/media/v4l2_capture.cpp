#include "v4l2_capture.h"

#include <fcntl.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "annexb.h"

namespace kvs::media {
namespace {

int64_t now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

bool is_jpeg(uint32_t f) {
  return f == V4L2_PIX_FMT_MJPEG || f == V4L2_PIX_FMT_JPEG || f == V4L2_PIX_FMT_PJPG;
}

}  // namespace

V4l2Capture::V4l2Capture(V4l2CaptureConfig config) : config_(std::move(config)) {
  if (config_.formats.empty())
    config_.formats = {V4L2_PIX_FMT_NV12, V4L2_PIX_FMT_YUV420, V4L2_PIX_FMT_YUYV, V4L2_PIX_FMT_H264};
}

V4l2Capture::~V4l2Capture() { close(); }

std::string V4l2Capture::driver() const {
  return reinterpret_cast<const char*>(device_.caps().driver);
}

bool V4l2Capture::open(std::string* error) {
  close();
  const auto& c = config_;
  if (c.width <= 0 || c.height <= 0 || c.fps <= 0) {
    *error = "capture config: width, height and fps must be positive";
    return false;
  }
  for (uint32_t f : c.formats) {
    V4l2Chroma ch;
    if (f != V4L2_PIX_FMT_H264 && !v4l2_raw_chroma(f, &ch)) {
      *error = "capture config: format " + v4l2_fourcc_name(f) +
               (is_jpeg(f) ? " (MJPEG) is not supported: kvs-edge does not decode JPEG; use YUYV, "
                             "NV12, YU12 or H264"
                           : " is not one of YUYV, NV12, YU12, H264");
      return false;
    }
  }
  if (!device_.open(c.device, true, error)) return false;
  const std::string who = c.device + " (" + driver() + ")";
  const uint32_t caps = device_.device_caps();
  if (!(caps & (V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_VIDEO_CAPTURE_MPLANE))) {
    *error = who + " is not a video capture device";
    device_.close();
    return false;
  }
  if (!(caps & V4L2_CAP_STREAMING)) {
    *error = who + " does not support streaming I/O";
    device_.close();
    return false;
  }
  mplane_ = !(caps & V4L2_CAP_VIDEO_CAPTURE);
  type_ = mplane_ ? V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE : V4L2_BUF_TYPE_VIDEO_CAPTURE;

  offered_.clear();
  for (uint32_t i = 0; i < 128; ++i) {
    v4l2_fmtdesc d{};
    d.index = i;
    d.type = type_;
    if (device_.ioctl(VIDIOC_ENUM_FMT, &d) != 0) break;
    if (d.flags & V4L2_FMT_FLAG_EMULATED) continue;
    offered_.push_back(d.pixelformat);
  }
  format_ = 0;
  for (uint32_t want : c.formats)
    if (std::find(offered_.begin(), offered_.end(), want) != offered_.end()) {
      format_ = want;
      break;
    }
  if (!format_) {
    std::string list;
    bool jpeg = false;
    for (uint32_t f : offered_) {
      if (!list.empty()) list += ' ';
      list += v4l2_fourcc_name(f);
      jpeg = jpeg || is_jpeg(f);
    }
    std::string want;
    for (uint32_t f : c.formats) {
      if (!want.empty()) want += ' ';
      want += v4l2_fourcc_name(f);
    }
    *error = who + " offers " + (list.empty() ? "no formats" : list) + "; none of " + want +
             (jpeg ? ". MJPEG is not supported: kvs-edge does not decode JPEG; pick a camera mode "
                     "with YUYV, NV12 or H.264, or a pipe source that decodes it"
                   : "");
    device_.close();
    return false;
  }

  v4l2_format f{};
  f.type = type_;
  if (mplane_) {
    f.fmt.pix_mp.pixelformat = format_;
    f.fmt.pix_mp.width = c.width;
    f.fmt.pix_mp.height = c.height;
    f.fmt.pix_mp.field = V4L2_FIELD_NONE;
  } else {
    f.fmt.pix.pixelformat = format_;
    f.fmt.pix.width = c.width;
    f.fmt.pix.height = c.height;
    f.fmt.pix.field = V4L2_FIELD_NONE;
  }
  if (int r = device_.ioctl(VIDIOC_S_FMT, &f); r != 0) {
    *error = who + ": VIDIOC_S_FMT(" + v4l2_fourcc_name(format_) + ") failed: " + v4l2_errno_text(r);
    device_.close();
    return false;
  }
  const uint32_t got = mplane_ ? f.fmt.pix_mp.pixelformat : f.fmt.pix.pixelformat;
  if (got != format_) {
    *error = who + " replaced " + v4l2_fourcc_name(format_) + " with " + v4l2_fourcc_name(got);
    device_.close();
    return false;
  }
  if (mplane_) {
    width_ = f.fmt.pix_mp.width;
    height_ = f.fmt.pix_mp.height;
    num_planes_ = std::clamp<uint32_t>(f.fmt.pix_mp.num_planes, 1, VIDEO_MAX_PLANES);
    for (uint32_t p = 0; p < num_planes_; ++p) bpl_[p] = f.fmt.pix_mp.plane_fmt[p].bytesperline;
  } else {
    width_ = f.fmt.pix.width;
    height_ = f.fmt.pix.height;
    num_planes_ = 1;
    bpl_[0] = f.fmt.pix.bytesperline;
  }
  if (format_ != V4L2_PIX_FMT_H264 && bpl_[0] == 0)
    bpl_[0] = format_ == V4L2_PIX_FMT_YUYV ? 2 * width_ : width_;

  v4l2_streamparm parm{};
  parm.type = type_;
  parm.parm.capture.timeperframe.numerator = 1;
  parm.parm.capture.timeperframe.denominator = c.fps;
  device_.ioctl(VIDIOC_S_PARM, &parm);  // optional: not every driver sets a rate
  fps_ = 0;
  v4l2_streamparm g{};
  g.type = type_;
  if (device_.ioctl(VIDIOC_G_PARM, &g) == 0 && g.parm.capture.timeperframe.numerator)
    fps_ = double(g.parm.capture.timeperframe.denominator) / g.parm.capture.timeperframe.numerator;
  return true;
}

bool V4l2Capture::allocate(std::string* error) {
  const std::string who = config_.device + " (" + driver() + ")";
  queue_.set_type(type_);
  if (!queue_.allocate(V4L2_MEMORY_MMAP, mplane_, std::max(2, config_.buffers), error)) return false;
  dmabuf_fds_.assign(queue_.size(), -1);
  for (uint32_t i = 0; i < queue_.size(); ++i) {
    if (config_.export_dmabuf) {
      v4l2_exportbuffer exp{};
      exp.type = type_;
      exp.index = i;
      exp.plane = 0;
      exp.flags = O_RDONLY | O_CLOEXEC;
      if (int r = device_.ioctl(VIDIOC_EXPBUF, &exp); r != 0) {
        *error = who + ": VIDIOC_EXPBUF (DMABUF export) failed: " + v4l2_errno_text(r);
        return false;
      }
      dmabuf_fds_[i] = exp.fd;
    }
    if (!requeue_buffer(i, error)) return false;
  }
  return true;
}

void V4l2Capture::release() {
  for (int fd : dmabuf_fds_)
    if (fd >= 0) ::close(fd);
  dmabuf_fds_.clear();
  queue_.release();
}

bool V4l2Capture::start(std::string* error) {
  if (!device_.is_open()) {
    *error = config_.device + ": capture is not open";
    return false;
  }
  if (streaming_) return true;
  if (!allocate(error)) {
    release();
    return false;
  }
  if (!queue_.stream(true, error)) {
    release();
    return false;
  }
  streaming_ = true;
  have_sequence_ = false;
  return true;
}

void V4l2Capture::stop() {
  std::string ignored;
  if (streaming_ && device_.is_open()) queue_.stream(false, &ignored);
  streaming_ = false;
  release();
}

void V4l2Capture::close() {
  stop();
  device_.close();
}

bool V4l2Capture::dequeue(v4l2_buffer* out_b, v4l2_plane* planes, std::string* error) {
  const int64_t deadline = now_ms() + config_.timeout_ms;
  v4l2_buffer& b = *out_b;
  for (;;) {
    b = {};
    b.type = type_;
    b.memory = V4L2_MEMORY_MMAP;
    if (mplane_) {
      memset(planes, 0, sizeof(v4l2_plane) * VIDEO_MAX_PLANES);
      b.m.planes = planes;
      b.length = VIDEO_MAX_PLANES;
    }
    int r = device_.ioctl(VIDIOC_DQBUF, &b);
    if (r == 0) break;
    if (r != -EAGAIN) {
      *error = config_.device + ": VIDIOC_DQBUF failed: " + v4l2_errno_text(r);
      return false;
    }
    int left = int(deadline - now_ms());
    if (left <= 0) {
      *error = config_.device + ": no frame within " + std::to_string(config_.timeout_ms) + " ms";
      return false;
    }
    int p = device_.poll(POLLIN, left);
    if (p < 0) {
      *error = config_.device + ": poll failed: " + v4l2_errno_text(p);
      return false;
    }
  }
  if (b.index >= queue_.size()) {
    *error = config_.device + ": driver returned a buffer index out of range";
    return false;
  }
  return true;
}

bool V4l2Capture::dequeue_buffer(V4l2CaptureBuffer* buf, std::string* error) {
  if (!streaming_) {
    *error = config_.device + ": capture is not started";
    return false;
  }
  v4l2_plane planes[VIDEO_MAX_PLANES]{};
  v4l2_buffer b{};
  if (!dequeue(&b, planes, error)) return false;
  const auto& m = queue_.planes(b.index);
  buf->index = b.index;
  buf->data = static_cast<const uint8_t*>(m[0].addr);
  buf->length = static_cast<uint32_t>(m[0].length);
  buf->bytesused = std::min<uint32_t>(mplane_ ? planes[0].bytesused : b.bytesused, buf->length);
  buf->dmabuf_fd = b.index < dmabuf_fds_.size() ? dmabuf_fds_[b.index] : -1;
  buf->timestamp_us = int64_t(b.timestamp.tv_sec) * 1000000 + b.timestamp.tv_usec;
  buf->sequence = b.sequence;
  return true;
}

bool V4l2Capture::requeue_buffer(uint32_t index, std::string* error) {
  if (index >= queue_.size()) {
    *error = config_.device + ": buffer index out of range";
    return false;
  }
  v4l2_plane planes[VIDEO_MAX_PLANES]{};
  v4l2_buffer b{};
  b.index = index;
  b.type = type_;
  b.memory = V4L2_MEMORY_MMAP;
  if (mplane_) {
    b.m.planes = planes;
    b.length = static_cast<uint32_t>(queue_.planes(index).size());
  }
  if (int r = device_.ioctl(VIDIOC_QBUF, &b); r != 0) {
    *error = config_.device + ": VIDIOC_QBUF failed: " + v4l2_errno_text(r);
    return false;
  }
  return true;
}

bool V4l2Capture::read_frame(V4l2CapturedFrame* frame, std::string* error) {
  if (!streaming_) {
    *error = config_.device + ": capture is not started";
    return false;
  }
  v4l2_plane planes[VIDEO_MAX_PLANES]{};
  v4l2_buffer b{};
  if (!dequeue(&b, planes, error)) return false;
  if (b.index >= queue_.size()) {
    *error = config_.device + ": driver returned a buffer index out of range";
    return false;
  }
  const auto& buf = queue_.planes(b.index);
  frame->format = format_;
  frame->width = width_;
  frame->height = height_;
  frame->timestamp_us = int64_t(b.timestamp.tv_sec) * 1000000 + b.timestamp.tv_usec;
  frame->monotonic = (b.flags & V4L2_BUF_FLAG_TIMESTAMP_MASK) == V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC;
  frame->sequence = b.sequence;
  frame->keyframe = false;
  frame->data.clear();
  if (have_sequence_ && b.sequence > last_sequence_ + 1) dropped_ += b.sequence - last_sequence_ - 1;
  have_sequence_ = true;
  last_sequence_ = b.sequence;

  auto plane_ptr = [&](uint32_t p) { return static_cast<const uint8_t*>(buf[p].addr); };
  auto plane_used = [&](uint32_t p) -> size_t {
    size_t used = mplane_ ? planes[p].bytesused : b.bytesused;
    return std::min(used, buf[p].length);
  };
  bool ok = true;
  if (b.flags & V4L2_BUF_FLAG_ERROR) {
    // Corrupted frame (e.g. USB packet loss): hand out nothing rather than garbage.
    ok = false;
    *error = config_.device + ": driver flagged frame " + std::to_string(b.sequence) + " as corrupt";
  } else if (format_ == V4L2_PIX_FMT_H264) {
    const uint8_t* p = plane_ptr(0);
    frame->data.assign(p, p + plane_used(0));
    frame->keyframe = (b.flags & V4L2_BUF_FLAG_KEYFRAME) != 0;
    if (!frame->keyframe)
      for (const NalUnit& n : split_annexb(frame->data.data(), frame->data.size()))
        if (n.type() == kNalIdr) frame->keyframe = true;
  } else {
    V4l2Chroma ch;
    v4l2_raw_chroma(format_, &ch);
    const size_t w = width_, h = height_, cw = (w + 1) / 2, chh = (h + 1) / 2;
    frame->data.resize(v4l2_packed_frame_size(format_, width_, height_));
    uint8_t* dst = frame->data.data();
    // Source components: pointer + stride, in one plane or one plane each.
    struct Src {
      const uint8_t* p;
      size_t stride;
      uint32_t plane;
    } src[3]{};
    src[0] = {plane_ptr(0), bpl_[0], 0};
    if (ch == V4l2Chroma::kInterleaved420) {
      src[1] = num_planes_ >= 2 ? Src{plane_ptr(1), bpl_[1], 1}
                                : Src{plane_ptr(0) + bpl_[0] * h, bpl_[0], 0};
    } else if (ch == V4l2Chroma::kPlanar420) {
      if (num_planes_ >= 3) {
        src[1] = {plane_ptr(1), bpl_[1], 1};
        src[2] = {plane_ptr(2), bpl_[2], 2};
      } else {
        src[1] = {plane_ptr(0) + bpl_[0] * h, bpl_[0] / 2, 0};
        src[2] = {src[1].p + (bpl_[0] / 2) * chh, bpl_[0] / 2, 0};
      }
    }
    auto copy = [&](const Src& s, size_t row, size_t rows) {
      const size_t end = size_t(s.p - plane_ptr(s.plane)) + s.stride * (rows - 1) + row;
      if (row > s.stride || end > buf[s.plane].length) return false;
      for (size_t r = 0; r < rows; ++r) memcpy(dst + r * row, s.p + r * s.stride, row);
      dst += row * rows;
      return true;
    };
    if (ch == V4l2Chroma::kPacked422) {
      ok = copy(src[0], 2 * w, h);
    } else {
      ok = copy(src[0], w, h);
      if (ch == V4l2Chroma::kInterleaved420) ok = ok && copy(src[1], 2 * cw, chh);
      else ok = ok && copy(src[1], cw, chh) && copy(src[2], cw, chh);
    }
    if (!ok) *error = config_.device + ": driver buffer is smaller than its format says";
    (void)plane_used;
  }
  if (int r = device_.ioctl(VIDIOC_QBUF, &b); r != 0) {
    *error = config_.device + ": VIDIOC_QBUF failed: " + v4l2_errno_text(r);
    return false;
  }
  return ok;
}

}  // namespace kvs::media
