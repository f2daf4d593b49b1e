#include "v4l2_m2m_encoder.h"

#include <poll.h>
#include <time.h>

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

int align_up(int v, int a) { return a > 1 ? (v + a - 1) / a * a : v; }

uint32_t be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
}

timeval to_timeval(int64_t us) {
  timeval tv{};
  tv.tv_sec = us / 1000000;
  tv.tv_usec = us % 1000000;
  if (tv.tv_usec < 0) {
    tv.tv_usec += 1000000;
    tv.tv_sec -= 1;
  }
  return tv;
}

int64_t from_timeval(const timeval& tv) { return int64_t(tv.tv_sec) * 1000000 + tv.tv_usec; }

bool h264_has_idr(const uint8_t* data, size_t size) {
  for (const NalUnit& n : split_annexb(data, size))
    if (n.type() == kNalIdr) return true;
  return false;
}

}  // namespace

bool fwht_is_keyframe(const uint8_t* data, size_t size) {
  // FWHT compressed frame header (vicodec): magic 4f4f4f4f ffffffff, then big-endian 32-bit
  // version, width, height, flags, ... V4L2_FWHT_FL_I_FRAME in the flags marks an I-frame.
  static const uint8_t kMagic[8] = {0x4f, 0x4f, 0x4f, 0x4f, 0xff, 0xff, 0xff, 0xff};
  if (size < 28 || memcmp(data, kMagic, 8) != 0) return false;
  return (be32(data + 20) & V4L2_FWHT_FL_I_FRAME) != 0;
}

bool apply_v4l2_encoder_quirk(const std::string& quirk, V4l2EncoderConfig* config) {
  if (quirk == "needs-stride-multiple-of-32") {
    config->width_align = std::max(config->width_align, 32);
  } else if (quirk == "height-multiple-of-16") {
    config->height_align = std::max(config->height_align, 16);
  } else if (quirk == "multiplanar") {
    config->force_multiplanar = true;
  } else if (quirk == "no-keyframe-reset") {
    config->keyframe_by_reset = false;
  } else if (quirk == "stateful-encoder" || quirk == "libv4l2-plugin" ||
             quirk.rfind("jetpack-", 0) == 0) {
    // informational
  } else {
    return false;
  }
  return true;
}

V4l2M2mEncoder::V4l2M2mEncoder(V4l2EncoderConfig config) : config_(std::move(config)) {}

V4l2M2mEncoder::~V4l2M2mEncoder() { close(); }

std::string V4l2M2mEncoder::driver() const {
  return reinterpret_cast<const char*>(device_.caps().driver);
}
std::string V4l2M2mEncoder::card() const {
  return reinterpret_cast<const char*>(device_.caps().card);
}

bool V4l2M2mEncoder::fatal(int err) const {
  err = err < 0 ? -err : err;
  return err == EIO || err == ENODEV || err == ENXIO || err == EBADF || err == ENOTTY ||
         err == EFAULT;
}

bool V4l2M2mEncoder::open(std::string* error) {
  consecutive_reopens_ = 0;
  return open_once(error);
}

bool V4l2M2mEncoder::open_once(std::string* error) {
  close();
  const auto& c = config_;
  if (c.width <= 0 || c.height <= 0 || c.fps <= 0) {
    *error = "encoder config: width, height and fps must be positive";
    return false;
  }
  V4l2Chroma chroma;
  if (!v4l2_raw_chroma(c.input_format, &chroma)) {
    *error = "encoder config: input format " + v4l2_fourcc_name(c.input_format) +
             " is not one of NV12, YU12 (I420), YUYV";
    return false;
  }
  if (!device_.open(c.device, true, error)) return false;
  const uint32_t caps = device_.device_caps();
  const std::string who = c.device + " (" + driver() + ")";
  const bool single = (caps & V4L2_CAP_VIDEO_M2M) ||
                      ((caps & V4L2_CAP_VIDEO_CAPTURE) && (caps & V4L2_CAP_VIDEO_OUTPUT));
  const bool multi = (caps & V4L2_CAP_VIDEO_M2M_MPLANE) ||
                     ((caps & V4L2_CAP_VIDEO_CAPTURE_MPLANE) && (caps & V4L2_CAP_VIDEO_OUTPUT_MPLANE));
  if (!single && !multi) {
    *error = who + " is not a memory-to-memory device (no M2M capability)";
    device_.close();
    return false;
  }
  if (!(caps & V4L2_CAP_STREAMING)) {
    *error = who + " does not support streaming I/O";
    device_.close();
    return false;
  }
  mplane_ = multi && (!single || c.force_multiplanar);
  out_memory_ = c.dmabuf_input ? V4L2_MEMORY_DMABUF : V4L2_MEMORY_MMAP;
  out_type_ = mplane_ ? V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE : V4L2_BUF_TYPE_VIDEO_OUTPUT;
  cap_type_ = mplane_ ? V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE : V4L2_BUF_TYPE_VIDEO_CAPTURE;

  if (!negotiate(error)) {
    close();
    return false;
  }
  apply_controls();
  for (uint32_t ev : {uint32_t(V4L2_EVENT_EOS), uint32_t(V4L2_EVENT_SOURCE_CHANGE)}) {
    v4l2_event_subscription sub{};
    sub.type = ev;
    device_.ioctl(VIDIOC_SUBSCRIBE_EVENT, &sub);  // optional: encoders may refuse either
  }
  if (!allocate(out_type_, c.output_buffers, &out_bufs_, error) ||
      !allocate(cap_type_, c.capture_buffers, &cap_bufs_, error)) {
    close();
    return false;
  }
  for (uint32_t i = 0; i < cap_bufs_.size(); ++i) {
    if (!queue_capture(i, error)) {
      close();
      return false;
    }
  }
  if (!stream(out_type_, true, error) || !stream(cap_type_, true, error)) {
    close();
    return false;
  }
  draining_ = false;
  return true;
}

bool V4l2M2mEncoder::negotiate(std::string* error) {
  const auto& c = config_;
  const std::string who = c.device + " (" + driver() + ")";
  // The coded format must be on the CAPTURE queue.
  std::string offered;
  bool found = false;
  for (uint32_t i = 0; i < 64; ++i) {
    v4l2_fmtdesc d{};
    d.index = i;
    d.type = cap_type_;
    if (device_.ioctl(VIDIOC_ENUM_FMT, &d) != 0) break;
    if (d.pixelformat == c.coded_format) found = true;
    if (!offered.empty()) offered += ' ';
    offered += v4l2_fourcc_name(d.pixelformat);
  }
  if (!found) {
    *error = who + " cannot encode " + v4l2_fourcc_name(c.coded_format) +
             " (its CAPTURE queue offers: " + (offered.empty() ? "nothing" : offered) + ")";
    return false;
  }
  const int w = align_up(c.width, c.width_align), h = align_up(c.height, c.height_align);

  // 1. CAPTURE (coded) format first: it governs what OUTPUT offers.
  v4l2_format cf{};
  cf.type = cap_type_;
  uint32_t want_size = c.capture_buffer_size
                           ? c.capture_buffer_size
                           : std::max<uint32_t>(uint32_t(w) * uint32_t(h) * 3 / 4, 256 * 1024);
  if (mplane_) {
    cf.fmt.pix_mp.pixelformat = c.coded_format;
    cf.fmt.pix_mp.width = w;
    cf.fmt.pix_mp.height = h;
    cf.fmt.pix_mp.num_planes = 1;
    cf.fmt.pix_mp.plane_fmt[0].sizeimage = want_size;
  } else {
    cf.fmt.pix.pixelformat = c.coded_format;
    cf.fmt.pix.width = w;
    cf.fmt.pix.height = h;
    cf.fmt.pix.sizeimage = want_size;
  }
  if (int r = device_.ioctl(VIDIOC_S_FMT, &cf); r != 0) {
    *error = who + ": VIDIOC_S_FMT(CAPTURE, " + v4l2_fourcc_name(c.coded_format) +
             ") failed: " + v4l2_errno_text(r);
    return false;
  }

  // 2. OUTPUT (raw) format.
  v4l2_format of{};
  of.type = out_type_;
  if (mplane_) {
    of.fmt.pix_mp.pixelformat = c.input_format;
    of.fmt.pix_mp.width = w;
    of.fmt.pix_mp.height = h;
    of.fmt.pix_mp.field = V4L2_FIELD_NONE;
    of.fmt.pix_mp.num_planes = 1;
  } else {
    of.fmt.pix.pixelformat = c.input_format;
    of.fmt.pix.width = w;
    of.fmt.pix.height = h;
    of.fmt.pix.field = V4L2_FIELD_NONE;
  }
  if (int r = device_.ioctl(VIDIOC_S_FMT, &of); r != 0) {
    *error = who + ": VIDIOC_S_FMT(OUTPUT, " + v4l2_fourcc_name(c.input_format) + " " +
             std::to_string(w) + "x" + std::to_string(h) + ") failed: " + v4l2_errno_text(r);
    return false;
  }
  uint32_t got_fmt;
  if (mplane_) {
    got_fmt = of.fmt.pix_mp.pixelformat;
    out_width_ = of.fmt.pix_mp.width;
    out_height_ = of.fmt.pix_mp.height;
    out_planes_ = std::clamp<uint32_t>(of.fmt.pix_mp.num_planes, 1, VIDEO_MAX_PLANES);
    for (uint32_t p = 0; p < out_planes_; ++p) {
      out_bpl_[p] = of.fmt.pix_mp.plane_fmt[p].bytesperline;
      out_sizeimage_[p] = of.fmt.pix_mp.plane_fmt[p].sizeimage;
    }
  } else {
    got_fmt = of.fmt.pix.pixelformat;
    out_width_ = of.fmt.pix.width;
    out_height_ = of.fmt.pix.height;
    out_planes_ = 1;
    out_bpl_[0] = of.fmt.pix.bytesperline;
    out_sizeimage_[0] = of.fmt.pix.sizeimage;
  }
  // NV12M / YU12M (one memory plane per component) carry the same pixels.
  const bool same = got_fmt == c.input_format ||
                    (c.input_format == V4L2_PIX_FMT_NV12 && got_fmt == V4L2_PIX_FMT_NV12M) ||
                    (c.input_format == V4L2_PIX_FMT_YUV420 && got_fmt == V4L2_PIX_FMT_YUV420M);
  if (!same) {
    std::string raw;
    for (uint32_t i = 0; i < 64; ++i) {
      v4l2_fmtdesc d{};
      d.index = i;
      d.type = out_type_;
      if (device_.ioctl(VIDIOC_ENUM_FMT, &d) != 0) break;
      if (!raw.empty()) raw += ' ';
      raw += v4l2_fourcc_name(d.pixelformat);
    }
    *error = who + " does not take " + v4l2_fourcc_name(c.input_format) + " input for " +
             v4l2_fourcc_name(c.coded_format) + " (it offered " + v4l2_fourcc_name(got_fmt) +
             "; OUTPUT formats: " + raw + ")";
    return false;
  }
  if (out_width_ < c.width || out_height_ < c.height) {
    *error = who + " cannot encode " + std::to_string(c.width) + "x" + std::to_string(c.height) +
             " (it offered " + std::to_string(out_width_) + "x" + std::to_string(out_height_) + ")";
    return false;
  }
  if (out_bpl_[0] == 0) {
    V4l2Chroma ch;
    v4l2_raw_chroma(c.input_format, &ch);
    out_bpl_[0] = ch == V4l2Chroma::kPacked422 ? 2 * out_width_ : out_width_;
  }
  // Encode only the picture, not the alignment padding (optional for drivers).
  if (out_width_ != c.width || out_height_ != c.height) {
    v4l2_selection sel{};
    sel.type = V4L2_BUF_TYPE_VIDEO_OUTPUT;  // selection API uses the non-MPLANE type
    sel.target = V4L2_SEL_TGT_CROP;
    sel.r.width = c.width;
    sel.r.height = c.height;
    device_.ioctl(VIDIOC_S_SELECTION, &sel);
  }

  // 3. Frame rate on OUTPUT (also the coded rate per dev-encoder); optional for drivers.
  v4l2_streamparm parm{};
  parm.type = out_type_;
  parm.parm.output.timeperframe.numerator = 1;
  parm.parm.output.timeperframe.denominator = c.fps;
  device_.ioctl(VIDIOC_S_PARM, &parm);

  // 4. The CAPTURE buffer size the driver settled on.
  v4l2_format g{};
  g.type = cap_type_;
  if (device_.ioctl(VIDIOC_G_FMT, &g) == 0)
    cap_sizeimage_ = mplane_ ? g.fmt.pix_mp.plane_fmt[0].sizeimage : g.fmt.pix.sizeimage;
  return true;
}

bool V4l2M2mEncoder::set_control(uint32_t id, const char* name, int64_t value,
                                 V4l2ControlResult* result) {
  result->name = name;
  result->id = id;
  result->value = value;
  result->applied = false;
  result->detail.clear();
  v4l2_query_ext_ctrl q{};
  q.id = id;
  if (device_.ioctl(VIDIOC_QUERY_EXT_CTRL, &q) != 0 || (q.flags & V4L2_CTRL_FLAG_DISABLED)) {
    result->detail = "not supported by " + driver();
    return false;
  }
  if (q.type != V4L2_CTRL_TYPE_BUTTON && (value < q.minimum || value > q.maximum)) {
    int64_t clamped = std::clamp<int64_t>(value, q.minimum, q.maximum);
    result->detail = "clamped from " + std::to_string(value) + " to the driver's range [" +
                     std::to_string(q.minimum) + ", " + std::to_string(q.maximum) + "]";
    value = clamped;
    result->value = value;
  }
  v4l2_ext_control ctrl{};
  ctrl.id = id;
  if (q.type == V4L2_CTRL_TYPE_INTEGER64)
    ctrl.value64 = value;
  else
    ctrl.value = static_cast<int32_t>(value);
  v4l2_ext_controls ctrls{};
  ctrls.which = V4L2_CTRL_WHICH_CUR_VAL;
  ctrls.count = 1;
  ctrls.controls = &ctrl;
  int r = device_.ioctl(VIDIOC_S_EXT_CTRLS, &ctrls);
  if (r != 0) {
    // Older drivers only implement the class-based form.
    ctrls.which = V4L2_CTRL_ID2WHICH(id);
    r = device_.ioctl(VIDIOC_S_EXT_CTRLS, &ctrls);
  }
  if (r != 0) {
    result->detail = "rejected by " + driver() + ": " + v4l2_errno_text(r);
    return false;
  }
  result->applied = true;
  return true;
}

void V4l2M2mEncoder::apply_controls() {
  const auto& c = config_;
  controls_.clear();
  auto set = [&](uint32_t id, const char* name, int64_t v) {
    V4l2ControlResult r;
    set_control(id, name, v, &r);
    controls_.push_back(r);
    return r.applied;
  };
  if (c.bitrate_bps > 0) {
    set(V4L2_CID_MPEG_VIDEO_BITRATE_MODE, "bitrate_mode", V4L2_MPEG_VIDEO_BITRATE_MODE_CBR);
    if (set(c.cid_bitrate, "bitrate", c.bitrate_bps)) stats_.bitrate_bps = int(controls_.back().value);
  }
  if (c.coded_format == V4L2_PIX_FMT_H264) {
    if (c.h264_profile >= 0) set(V4L2_CID_MPEG_VIDEO_H264_PROFILE, "h264_profile", c.h264_profile);
    if (c.h264_level >= 0) set(V4L2_CID_MPEG_VIDEO_H264_LEVEL, "h264_level", c.h264_level);
    if (c.idr_period > 0) set(c.cid_idr_period, "idr_period", c.idr_period);
    if (c.qp_min > 0) set(V4L2_CID_MPEG_VIDEO_H264_MIN_QP, "h264_min_qp", c.qp_min);
    if (c.qp_max > 0) set(V4L2_CID_MPEG_VIDEO_H264_MAX_QP, "h264_max_qp", c.qp_max);
    if (c.repeat_sps_pps) set(V4L2_CID_MPEG_VIDEO_REPEAT_SEQ_HEADER, "repeat_sps_pps", 1);
    set(V4L2_CID_MPEG_VIDEO_HEADER_MODE, "header_mode",
        V4L2_MPEG_VIDEO_HEADER_MODE_JOINED_WITH_1ST_FRAME);
    set(V4L2_CID_MPEG_VIDEO_B_FRAMES, "b_frames", 0);
  }
  if (c.idr_period > 0) set(V4L2_CID_MPEG_VIDEO_GOP_SIZE, "gop_size", c.idr_period);
  v4l2_queryctrl q{};
  q.id = V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME;
  has_force_key_ = device_.ioctl(VIDIOC_QUERYCTRL, &q) == 0 && !(q.flags & V4L2_CTRL_FLAG_DISABLED);
  V4l2ControlResult fk;
  fk.name = "force_key_frame";
  fk.id = V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME;
  fk.applied = has_force_key_;
  fk.detail = has_force_key_ ? "available"
              : config_.keyframe_by_reset
                  ? "not supported by " + driver() + "; keyframe requests run the Reset sequence"
                  : "not supported by " + driver() + "; keyframe requests are only counted";
  controls_.push_back(fk);
}

bool V4l2M2mEncoder::allocate(uint32_t type, int count, std::vector<Buffer>* bufs,
                              std::string* error) {
  V4l2BufferQueue& q = queue_of(type);
  const uint32_t memory = V4L2_TYPE_IS_OUTPUT(type) ? out_memory_ : uint32_t(V4L2_MEMORY_MMAP);
  if (!q.allocate(memory, mplane_, count, error)) return false;
  bufs->assign(q.size(), Buffer{});
  for (size_t i = 0; i < q.size(); ++i) (*bufs)[i].planes = q.planes(i);  // empty for DMABUF
  return true;
}

void V4l2M2mEncoder::release(uint32_t type, std::vector<Buffer>* bufs) {
  if (V4L2_TYPE_IS_OUTPUT(type) && out_memory_ == V4L2_MEMORY_DMABUF)
    for (Buffer& b : *bufs)
      if (b.queued) released_.push_back(b.cookie);  // STREAMOFF gave them back
  queue_of(type).release();
  bufs->clear();
}

V4l2BufferQueue& V4l2M2mEncoder::queue_of(uint32_t type) {
  V4l2BufferQueue& q = V4L2_TYPE_IS_OUTPUT(type) ? out_queue_ : cap_queue_;
  q.set_type(type);
  return q;
}

void V4l2M2mEncoder::close() {
  if (device_.is_open()) {
    int t1 = out_type_, t2 = cap_type_;
    device_.ioctl(VIDIOC_STREAMOFF, &t1);
    device_.ioctl(VIDIOC_STREAMOFF, &t2);
  }
  release(out_type_, &out_bufs_);
  release(cap_type_, &cap_bufs_);
  device_.close();
  draining_ = false;
}

bool V4l2M2mEncoder::stream(uint32_t type, bool on, std::string* error) {
  return queue_of(type).stream(on, error);
}

bool V4l2M2mEncoder::queue_capture(uint32_t index, std::string* error) {
  v4l2_plane planes[VIDEO_MAX_PLANES]{};
  v4l2_buffer b{};
  b.index = index;
  b.type = cap_type_;
  b.memory = V4L2_MEMORY_MMAP;
  if (mplane_) {
    b.m.planes = planes;
    b.length = static_cast<uint32_t>(cap_bufs_[index].planes.size());
    for (uint32_t p = 0; p < b.length; ++p) planes[p].length = cap_bufs_[index].planes[p].length;
  } else {
    b.length = static_cast<uint32_t>(cap_bufs_[index].planes[0].length);
  }
  if (int r = device_.ioctl(VIDIOC_QBUF, &b); r != 0) {
    *error = config_.device + ": VIDIOC_QBUF(CAPTURE) failed: " + v4l2_errno_text(r);
    return false;
  }
  cap_bufs_[index].queued = true;
  return true;
}

bool V4l2M2mEncoder::dequeue_capture(std::vector<V4l2CodedBuffer>* out, bool* last, bool* got,
                                     std::string* error) {
  *got = false;
  v4l2_plane planes[VIDEO_MAX_PLANES]{};
  v4l2_buffer b{};
  b.type = cap_type_;
  b.memory = V4L2_MEMORY_MMAP;
  if (mplane_) {
    b.m.planes = planes;
    b.length = VIDEO_MAX_PLANES;
  }
  int r = device_.ioctl(VIDIOC_DQBUF, &b);
  if (r == -EAGAIN) return true;
  if (r == -EPIPE) {  // the LAST buffer was already dequeued
    if (draining_) {
      *last = true;
      return true;
    }
    // Outside a drain this is a driver that kept its LAST state (see drain()): restart the queue.
    ++stats_.capture_restarts;
    return restart_capture(error);
  }
  if (r != 0) {
    *error = config_.device + ": VIDIOC_DQBUF(CAPTURE) failed: " + v4l2_errno_text(r);
    return false;
  }
  *got = true;
  if (b.index >= cap_bufs_.size()) {
    *error = config_.device + ": driver returned CAPTURE buffer index out of range";
    return false;
  }
  Buffer& buf = cap_bufs_[b.index];
  buf.queued = false;
  uint32_t used = mplane_ ? planes[0].bytesused : b.bytesused;
  uint32_t offset = mplane_ ? planes[0].data_offset : 0;
  if (offset > used) offset = used;
  used = std::min<uint32_t>(used, static_cast<uint32_t>(buf.planes[0].length));
  if (b.flags & V4L2_BUF_FLAG_LAST) *last = true;
  if (b.flags & V4L2_BUF_FLAG_ERROR) {
    ++stats_.error_buffers;
  } else if (used > offset) {
    V4l2CodedBuffer cb;
    const uint8_t* p = static_cast<const uint8_t*>(buf.planes[0].addr) + offset;
    cb.data.assign(p, p + (used - offset));
    cb.timestamp_us = from_timeval(b.timestamp);
    cb.sequence = b.sequence;
    cb.keyframe = (b.flags & V4L2_BUF_FLAG_KEYFRAME) != 0;
    if (!cb.keyframe && config_.coded_format == V4L2_PIX_FMT_H264)
      cb.keyframe = h264_has_idr(cb.data.data(), cb.data.size());
    if (!cb.keyframe && config_.coded_format == V4L2_PIX_FMT_FWHT)
      cb.keyframe = fwht_is_keyframe(cb.data.data(), cb.data.size());
    ++stats_.buffers_out;
    if (cb.keyframe) ++stats_.keyframes_out;
    out->push_back(std::move(cb));
  }
  return queue_capture(b.index, error);
}

bool V4l2M2mEncoder::dequeue_output(bool* got, std::string* error) {
  *got = false;
  v4l2_plane planes[VIDEO_MAX_PLANES]{};
  v4l2_buffer b{};
  b.type = out_type_;
  b.memory = out_memory_;
  if (mplane_) {
    b.m.planes = planes;
    b.length = VIDEO_MAX_PLANES;
  }
  int r = device_.ioctl(VIDIOC_DQBUF, &b);
  if (r == -EAGAIN) return true;
  if (r != 0) {
    *error = config_.device + ": VIDIOC_DQBUF(OUTPUT) failed: " + v4l2_errno_text(r);
    return false;
  }
  if (b.index < out_bufs_.size() && out_bufs_[b.index].queued) {
    out_bufs_[b.index].queued = false;
    if (out_memory_ == V4L2_MEMORY_DMABUF) released_.push_back(out_bufs_[b.index].cookie);
  }
  if (b.flags & V4L2_BUF_FLAG_ERROR) ++stats_.error_buffers;
  *got = true;
  return true;
}

void V4l2M2mEncoder::handle_events() {
  // Events are optional for encoders: a driver without them (ENOTTY) is not a failing device.
  const int saved = device_.last_error();
  for (int i = 0; i < 64; ++i) {
    v4l2_event ev{};
    if (device_.ioctl(VIDIOC_DQEVENT, &ev) != 0) break;
    if (ev.type == V4L2_EVENT_EOS) ++stats_.eos_events;
    if (ev.type == V4L2_EVENT_SOURCE_CHANGE) ++stats_.source_change_events;
  }
  device_.set_last_error(saved);
}

bool V4l2M2mEncoder::collect(std::vector<V4l2CodedBuffer>* out, bool* last, std::string* error) {
  for (size_t i = 0; i < out_bufs_.size() + 1; ++i) {
    bool got = false;
    if (!dequeue_output(&got, error)) return false;
    if (!got) break;
  }
  for (size_t i = 0; i < 4 * cap_bufs_.size() + 1; ++i) {
    bool got = false;
    bool was_last = *last;
    if (!dequeue_capture(out, last, &got, error)) return false;
    if (!got || (*last && !was_last)) break;  // stop at LAST: later buffers belong to a restart
  }
  handle_events();
  return true;
}

bool V4l2M2mEncoder::poll(int timeout_ms, std::vector<V4l2CodedBuffer>* out, std::string* error) {
  if (!device_.is_open()) {
    *error = config_.device + ": encoder is not open";
    return false;
  }
  const size_t before = out->size();
  const int64_t deadline = now_ms() + timeout_ms;
  bool last = false;
  for (;;) {
    if (!collect(out, &last, error)) return false;
    if (out->size() > before || last) return true;
    int left = int(deadline - now_ms());
    if (left <= 0) return true;
    int r = device_.poll(POLLIN | POLLPRI, left);
    if (r < 0) {
      *error = config_.device + ": poll failed: " + v4l2_errno_text(r);
      return false;
    }
    if (r & (POLLERR | POLLNVAL)) {
      if (!collect(out, &last, error)) return false;
      if (out->size() == before && !last) {
        *error = config_.device + ": device reported an error (POLLERR)";
        return false;
      }
      return true;
    }
  }
}

bool V4l2M2mEncoder::fill_output(Buffer& buf, const V4l2RawFrame& frame, uint32_t* bytesused,
                                 std::string* error) {
  const auto& c = config_;
  const int w = c.width, h = c.height;
  const size_t need = v4l2_packed_frame_size(c.input_format, w, h);
  if (!frame.data || frame.size < need) {
    *error = "raw frame is " + std::to_string(frame.size) + " bytes; " +
             v4l2_fourcc_name(c.input_format) + " " + std::to_string(w) + "x" + std::to_string(h) +
             " needs " + std::to_string(need);
    return false;
  }
  V4l2Chroma chroma;
  v4l2_raw_chroma(c.input_format, &chroma);
  const int cw = (w + 1) / 2, ch = (h + 1) / 2;
  const int H = out_height_;
  // Destination components: pointer, stride, and which plane they live in.
  struct Dst {
    uint8_t* p;
    size_t stride;
    uint32_t plane;
  } dst[3]{};
  auto base = [&](uint32_t p) { return static_cast<uint8_t*>(buf.planes[p].addr); };
  const uint32_t nplanes = std::min<uint32_t>(out_planes_, buf.planes.size());
  dst[0] = {base(0), out_bpl_[0], 0};
  if (chroma == V4l2Chroma::kInterleaved420) {
    dst[1] = nplanes >= 2 ? Dst{base(1), out_bpl_[1] ? out_bpl_[1] : out_bpl_[0], 1}
                          : Dst{base(0) + size_t(out_bpl_[0]) * H, out_bpl_[0], 0};
  } else if (chroma == V4l2Chroma::kPlanar420) {
    if (nplanes >= 3) {
      dst[1] = {base(1), out_bpl_[1] ? out_bpl_[1] : out_bpl_[0] / 2, 1};
      dst[2] = {base(2), out_bpl_[2] ? out_bpl_[2] : out_bpl_[0] / 2, 2};
    } else {
      const size_t cs = out_bpl_[0] / 2;
      dst[1] = {base(0) + size_t(out_bpl_[0]) * H, cs, 0};
      dst[2] = {dst[1].p + cs * ((H + 1) / 2), cs, 0};
    }
  }
  size_t end[VIDEO_MAX_PLANES] = {};
  auto copy = [&](const Dst& d, const uint8_t* src, size_t src_stride, size_t row_bytes,
                  int rows) -> bool {
    const size_t last_end = size_t(d.p - base(d.plane)) + d.stride * size_t(rows - 1) + row_bytes;
    if (row_bytes > d.stride || last_end > buf.planes[d.plane].length) {
      *error = config_.device + ": OUTPUT buffer too small for the negotiated layout";
      return false;
    }
    for (int r = 0; r < rows; ++r) memcpy(d.p + d.stride * r, src + src_stride * r, row_bytes);
    end[d.plane] = std::max(end[d.plane], last_end);
    return true;
  };
  const uint8_t* s = frame.data;
  if (chroma == V4l2Chroma::kPacked422) {
    if (!copy(dst[0], s, size_t(2) * w, size_t(2) * w, h)) return false;
  } else {
    if (!copy(dst[0], s, w, w, h)) return false;
    s += size_t(w) * h;
    if (chroma == V4l2Chroma::kInterleaved420) {
      if (!copy(dst[1], s, size_t(2) * cw, size_t(2) * cw, ch)) return false;
    } else {
      if (!copy(dst[1], s, cw, cw, ch)) return false;
      if (!copy(dst[2], s + size_t(cw) * ch, cw, cw, ch)) return false;
    }
  }
  for (uint32_t p = 0; p < nplanes; ++p) {
    // The driver's sizeimage when it fits (drivers check bytesused against it), else what we wrote.
    bytesused[p] = out_sizeimage_[p] && out_sizeimage_[p] <= buf.planes[p].length
                       ? out_sizeimage_[p]
                       : static_cast<uint32_t>(end[p]);
  }
  return true;
}

bool V4l2M2mEncoder::apply_pending(std::vector<V4l2CodedBuffer>* out, std::string* error) {
  int bps = bitrate_pending_.exchange(0);
  if (bps > 0) {
    if (set_control(config_.cid_bitrate, "bitrate", bps, &last_bitrate_))
      stats_.bitrate_bps = int(last_bitrate_.value);
    config_.bitrate_bps = bps;  // kept for a reopen
  }
  if (keyframe_pending_.exchange(false)) {
    ++stats_.keyframe_requests;
    if (has_force_key_) {
      V4l2ControlResult r;
      if (set_control(V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME, "force_key_frame", 1, &r))
        ++stats_.keyframes_forced_by_control;
    } else if (config_.keyframe_by_reset) {
      if (!reset_sequence(out, error)) return false;
      ++stats_.keyframes_forced_by_reset;
    }
  }
  return true;
}

bool V4l2M2mEncoder::restart_capture(std::string* error) {
  // STREAMOFF(CAPTURE) returns every CAPTURE buffer and clears the queue's LAST state;
  // STREAMON(CAPTURE) resumes with a stream independent of what came before (dev-encoder "Reset").
  if (!stream(cap_type_, false, error)) return false;
  for (Buffer& b : cap_bufs_) b.queued = false;
  for (uint32_t i = 0; i < cap_bufs_.size(); ++i)
    if (!queue_capture(i, error)) return false;
  return stream(cap_type_, true, error);
}

bool V4l2M2mEncoder::reset_sequence(std::vector<V4l2CodedBuffer>* out, std::string* error) {
  // dev-encoder "Reset": drain, then STREAMOFF/STREAMON(CAPTURE). drain() does both.
  return drain(out, error);
}

bool V4l2M2mEncoder::wait_free_output(std::vector<V4l2CodedBuffer>* out, int* index,
                                      std::string* error) {
  bool last = false;
  const int64_t deadline = now_ms() + config_.timeout_ms;
  for (;;) {
    if (!collect(out, &last, error)) return false;
    for (size_t i = 0; i < out_bufs_.size(); ++i)
      if (!out_bufs_[i].queued) {
        *index = int(i);
        return true;
      }
    int left = int(deadline - now_ms());
    if (left <= 0) {
      stalled_ = true;
      *error = config_.device + ": no OUTPUT buffer came back within " +
               std::to_string(config_.timeout_ms) + " ms (encoder stalled)";
      return false;
    }
    int r = device_.poll(POLLIN | POLLOUT | POLLPRI, left);
    if (r < 0) {
      *error = config_.device + ": poll failed: " + v4l2_errno_text(r);
      return false;
    }
  }
}

bool V4l2M2mEncoder::encode_dmabuf_once(const V4l2DmabufFrame& frame,
                                        std::vector<V4l2CodedBuffer>* out, std::string* error) {
  if (!device_.is_open()) {
    *error = config_.device + ": encoder is not open";
    return false;
  }
  if (out_memory_ != V4L2_MEMORY_DMABUF) {
    *error = config_.device + ": encoder is not configured for DMABUF input (dmabuf_input)";
    return false;
  }
  if (frame.fd < 0 || frame.bytesused == 0 || frame.bytesused > frame.length) {
    *error = "DMABUF frame: bad fd or sizes";
    return false;
  }
  if (!apply_pending(out, error)) return false;
  int index = -1;
  if (!wait_free_output(out, &index, error)) return false;
  v4l2_plane planes[VIDEO_MAX_PLANES]{};
  v4l2_buffer b{};
  b.index = index;
  b.type = out_type_;
  b.memory = V4L2_MEMORY_DMABUF;
  b.field = V4L2_FIELD_NONE;
  b.timestamp = to_timeval(frame.timestamp_us);
  if (mplane_) {
    b.m.planes = planes;
    b.length = 1;
    planes[0].m.fd = frame.fd;
    planes[0].bytesused = frame.bytesused;
    planes[0].length = frame.length;
  } else {
    b.m.fd = frame.fd;
    b.bytesused = frame.bytesused;
    b.length = frame.length;
  }
  if (int r = device_.ioctl(VIDIOC_QBUF, &b); r != 0) {
    *error = config_.device + ": VIDIOC_QBUF(OUTPUT, DMABUF) failed: " + v4l2_errno_text(r);
    return false;
  }
  out_bufs_[index].queued = true;
  out_bufs_[index].cookie = frame.cookie;
  ++stats_.frames_in;
  bool last = false;
  return collect(out, &last, error);
}

std::vector<uint64_t> V4l2M2mEncoder::take_released() {
  std::vector<uint64_t> r;
  r.swap(released_);
  return r;
}

bool V4l2M2mEncoder::encode_dmabuf(const V4l2DmabufFrame& frame, std::vector<V4l2CodedBuffer>* out,
                                   std::vector<uint64_t>* released, std::string* error) {
  bool ok = with_recovery([&](std::string* e) { return encode_dmabuf_once(frame, out, e); }, error);
  for (uint64_t c : take_released()) released->push_back(c);
  return ok;
}

bool V4l2M2mEncoder::encode_once(const V4l2RawFrame& frame, std::vector<V4l2CodedBuffer>* out,
                                 std::string* error) {
  if (!device_.is_open()) {
    *error = config_.device + ": encoder is not open";
    return false;
  }
  if (!apply_pending(out, error)) return false;
  if (out_memory_ != V4L2_MEMORY_MMAP) {
    *error = config_.device + ": encoder is configured for DMABUF input: use encode_dmabuf()";
    return false;
  }
  bool last = false;
  int free_index = -1;
  if (!wait_free_output(out, &free_index, error)) return false;
  Buffer& buf = out_bufs_[free_index];
  uint32_t used[VIDEO_MAX_PLANES] = {};
  if (!fill_output(buf, frame, used, error)) return false;
  v4l2_plane planes[VIDEO_MAX_PLANES]{};
  v4l2_buffer b{};
  b.index = free_index;
  b.type = out_type_;
  b.memory = V4L2_MEMORY_MMAP;
  b.field = V4L2_FIELD_NONE;
  b.timestamp = to_timeval(frame.timestamp_us);
  if (mplane_) {
    b.m.planes = planes;
    b.length = static_cast<uint32_t>(buf.planes.size());
    for (uint32_t p = 0; p < b.length; ++p) {
      planes[p].bytesused = used[p];
      planes[p].length = static_cast<uint32_t>(buf.planes[p].length);
    }
  } else {
    b.bytesused = used[0];
    b.length = static_cast<uint32_t>(buf.planes[0].length);
  }
  if (int r = device_.ioctl(VIDIOC_QBUF, &b); r != 0) {
    *error = config_.device + ": VIDIOC_QBUF(OUTPUT) failed: " + v4l2_errno_text(r);
    return false;
  }
  buf.queued = true;
  ++stats_.frames_in;
  return collect(out, &last, error);
}

template <class Once>
bool V4l2M2mEncoder::with_recovery(Once once, std::string* error) {
  device_.clear_last_error();
  stalled_ = false;
  if (once(error)) {
    consecutive_reopens_ = 0;
    return true;
  }
  v4l2_capability cap{};
  const bool device_failed = !device_.is_open() || stalled_ || fatal(device_.last_error()) ||
                             device_.ioctl(VIDIOC_QUERYCAP, &cap) != 0;
  if (!device_failed) return false;  // e.g. a malformed frame: the device is fine
  // Recovery: the device failed under us (EIO after a firmware crash, ENODEV after a reset...).
  // Reopen and retry this frame, a bounded number of times in a row.
  std::string first = *error;
  while (consecutive_reopens_ < config_.max_reopens) {
    ++consecutive_reopens_;
    std::string e;
    if (!reopen(&e)) {
      *error = first + "; reopen failed: " + e;
      continue;
    }
    stalled_ = false;
    if (once(error)) return true;
    first = *error;
  }
  *error = first + " (gave up after " + std::to_string(config_.max_reopens) + " reopens)";
  return false;
}

bool V4l2M2mEncoder::encode(const V4l2RawFrame& frame, std::vector<V4l2CodedBuffer>* out,
                            std::string* error) {
  return with_recovery([&](std::string* e) { return encode_once(frame, out, e); }, error);
}

bool V4l2M2mEncoder::reopen(std::string* error) {
  ++stats_.reopens;
  close();
  return open_once(error);
}

bool V4l2M2mEncoder::drain(std::vector<V4l2CodedBuffer>* out, std::string* error) {
  if (!device_.is_open()) {
    *error = config_.device + ": encoder is not open";
    return false;
  }
  v4l2_encoder_cmd cmd{};
  cmd.cmd = V4L2_ENC_CMD_STOP;
  if (int r = device_.ioctl(VIDIOC_ENCODER_CMD, &cmd); r != 0) {
    *error = config_.device + ": V4L2_ENC_CMD_STOP failed: " + v4l2_errno_text(r);
    return false;
  }
  ++stats_.drains;
  draining_ = true;
  bool last = false;
  const int64_t deadline = now_ms() + config_.timeout_ms;
  while (!last) {
    if (!collect(out, &last, error)) {
      draining_ = false;
      return false;
    }
    if (last) break;
    int left = int(deadline - now_ms());
    if (left <= 0) {
      draining_ = false;
      stalled_ = true;
      *error = config_.device + ": drain did not end with a LAST buffer within " +
               std::to_string(config_.timeout_ms) + " ms";
      return false;
    }
    int r = device_.poll(POLLIN | POLLPRI, left);
    if (r < 0) {
      draining_ = false;
      *error = config_.device + ": poll failed: " + v4l2_errno_text(r);
      return false;
    }
  }
  draining_ = false;
  // Every OUTPUT buffer queued before the STOP is done now; take them back.
  for (size_t i = 0; i < out_bufs_.size() + 1; ++i) {
    bool got = false;
    if (!dequeue_output(&got, error)) return false;
    if (!got) break;
  }
  handle_events();
  // Resume. The spec offers V4L2_ENC_CMD_START or STREAMOFF/STREAMON(CAPTURE); the second works
  // on every driver: vicodec in Linux 6.1 leaves the CAPTURE queue's "last buffer dequeued" state
  // set after V4L2_ENC_CMD_START, so DQBUF would answer EPIPE forever.
  return restart_capture(error);
}

void V4l2M2mEncoder::request_keyframe() { keyframe_pending_.store(true); }
void V4l2M2mEncoder::set_bitrate(int bps) {
  if (bps > 0) bitrate_pending_.store(bps);
}

}  // namespace kvs::media
