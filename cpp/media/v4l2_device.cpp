#include "v4l2_device.h"

#include <fcntl.h>
#include <libv4l2.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace kvs::media {

std::string v4l2_fourcc_name(uint32_t fourcc) {
  std::string s(4, '.');
  for (int i = 0; i < 4; ++i) {
    char c = static_cast<char>((fourcc >> (8 * i)) & 0xff);
    if (c >= 0x20 && c < 0x7f) s[i] = c;
  }
  return s;
}

uint32_t v4l2_fourcc_from_name(std::string_view name) {
  if (name == "I420") return V4L2_PIX_FMT_YUV420;
  if (name == "H.264" || name == "h264") return V4L2_PIX_FMT_H264;
  if (name.size() != 4) return 0;
  return v4l2_fourcc(name[0], name[1], name[2], name[3]);
}

bool v4l2_raw_chroma(uint32_t fourcc, V4l2Chroma* chroma) {
  switch (fourcc) {
    case V4L2_PIX_FMT_YUYV: *chroma = V4l2Chroma::kPacked422; return true;
    case V4L2_PIX_FMT_NV12: *chroma = V4l2Chroma::kInterleaved420; return true;
    case V4L2_PIX_FMT_YUV420: *chroma = V4l2Chroma::kPlanar420; return true;
    default: return false;
  }
}

size_t v4l2_packed_frame_size(uint32_t fourcc, int width, int height) {
  V4l2Chroma c;
  if (width <= 0 || height <= 0 || !v4l2_raw_chroma(fourcc, &c)) return 0;
  const size_t w = static_cast<size_t>(width), h = static_cast<size_t>(height);
  if (c == V4l2Chroma::kPacked422) return w * h * 2;
  return w * h + 2 * (((w + 1) / 2) * ((h + 1) / 2));
}

std::string v4l2_errno_text(int negative_errno) {
  int e = negative_errno < 0 ? -negative_errno : negative_errno;
  return std::string(strerror(e)) + " (errno " + std::to_string(e) + ")";
}

V4l2Device::~V4l2Device() { close(); }

bool V4l2Device::open(const std::string& path, bool disable_conversion, std::string* error) {
  close();
  path_ = path;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    *error = path + ": " + strerror(errno);
    return false;
  }
  if (!S_ISCHR(st.st_mode)) {
    *error = path + ": not a character device, so not a V4L2 device node";
    return false;
  }
  int raw = ::open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (raw < 0) {
    *error = path + ": cannot open: " + strerror(errno);
    return false;
  }
  // QUERYCAP on the raw descriptor first, so that an ordinary file or device gets a clear
  // message. When the kernel does not answer it, the node may still be V4L2 through a libv4l2
  // plugin (Jetson's /dev/nvhost-msenc is served by libv4l2's NVIDIA plugin), so libv4l2 decides.
  v4l2_capability caps{};
  const bool kernel_v4l2 = ::ioctl(raw, VIDIOC_QUERYCAP, &caps) == 0;
  const int raw_errno = errno;
  int fd = v4l2_fd_open(raw, disable_conversion ? V4L2_DISABLE_CONVERSION : 0);
  if (fd < 0) {
    int e = errno;
    ::close(raw);
    *error = kernel_v4l2 ? path + ": libv4l2 refused the device: " + strerror(e)
                         : path + ": not a V4L2 device (VIDIOC_QUERYCAP: " + strerror(raw_errno) +
                               ", and no libv4l2 plugin serves it)";
    return false;
  }
  fd_ = fd;
  if (ioctl(VIDIOC_QUERYCAP, &caps_) != 0) {
    if (!kernel_v4l2) {
      close();
      *error = path + ": not a V4L2 device (VIDIOC_QUERYCAP fails)";
      return false;
    }
    caps_ = caps;
  }
  return true;
}

void V4l2Device::close() {
  if (fd_ >= 0) v4l2_close(fd_);
  fd_ = -1;
}

int V4l2Device::ioctl(unsigned long request, void* arg) {
  if (fd_ < 0) return -EBADF;
  for (int attempt = 0; attempt < 100; ++attempt) {
    if (v4l2_ioctl(fd_, request, arg) == 0) return 0;
    if (errno != EINTR) {
      if (errno != EAGAIN) last_error_ = errno;
      return -errno;
    }
  }
  return -EINTR;
}

void* V4l2Device::mmap(size_t length, int64_t offset) {
  void* p = v4l2_mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, offset);
  return p == MAP_FAILED ? nullptr : p;
}

void V4l2Device::munmap(void* addr, size_t length) {
  if (addr) v4l2_munmap(addr, length);
}

int V4l2Device::poll(short events, int timeout_ms) {
  if (fd_ < 0) return -EBADF;
  pollfd p{fd_, events, 0};
  int r = ::poll(&p, 1, timeout_ms);
  if (r < 0) return -errno;
  if (r == 0) return 0;
  return p.revents;
}

uint32_t V4l2Device::device_caps() const {
  return (caps_.capabilities & V4L2_CAP_DEVICE_CAPS) ? caps_.device_caps : caps_.capabilities;
}

void V4l2Device::break_for_test() {
  if (fd_ >= 0) {
    int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull >= 0) {
      ::dup2(devnull, fd_);  // the descriptor now answers ENOTTY to every V4L2 ioctl
      ::close(devnull);
    }
  }
}

bool V4l2BufferQueue::allocate(uint32_t memory, bool mplane, int count, std::string* error) {
  release();
  memory_ = memory;
  const std::string who = device_->path() + " (" + reinterpret_cast<const char*>(device_->caps().driver) + ")";
  v4l2_requestbuffers req{};
  req.count = static_cast<uint32_t>(std::max(1, count));
  req.type = type_;
  req.memory = memory;
  if (int r = device_->ioctl(VIDIOC_REQBUFS, &req); r != 0) {
    *error = who + ": VIDIOC_REQBUFS(" + name_ + ") failed: " + v4l2_errno_text(r);
    return false;
  }
  if (req.count == 0) {
    *error = who + ": the driver allocated no " + name_ + " buffers";
    return false;
  }
  planes_.assign(req.count, {});
  if (memory != V4L2_MEMORY_MMAP) return true;  // DMABUF: imported per frame, nothing to map
  for (uint32_t i = 0; i < req.count; ++i) {
    v4l2_plane planes[VIDEO_MAX_PLANES]{};
    v4l2_buffer b{};
    b.index = i;
    b.type = type_;
    b.memory = V4L2_MEMORY_MMAP;
    if (mplane) {
      b.m.planes = planes;
      b.length = VIDEO_MAX_PLANES;
    }
    if (int r = device_->ioctl(VIDIOC_QUERYBUF, &b); r != 0) {
      *error = who + ": VIDIOC_QUERYBUF(" + name_ + ") failed: " + v4l2_errno_text(r);
      release();
      return false;
    }
    const uint32_t n = mplane ? std::min<uint32_t>(b.length, VIDEO_MAX_PLANES) : 1;
    for (uint32_t p = 0; p < n; ++p) {
      V4l2MappedPlane pl;
      pl.length = mplane ? planes[p].length : b.length;
      pl.addr = device_->mmap(pl.length, mplane ? planes[p].m.mem_offset : b.m.offset);
      if (!pl.addr) {
        *error = who + ": mmap of " + name_ + " buffer " + std::to_string(i) + " failed: " + strerror(errno);
        release();
        return false;
      }
      planes_[i].push_back(pl);
    }
  }
  return true;
}

void V4l2BufferQueue::release() {
  for (auto& buf : planes_)
    for (V4l2MappedPlane& p : buf) device_->munmap(p.addr, p.length);
  if (!planes_.empty() && device_->is_open()) {
    v4l2_requestbuffers req{};
    req.type = type_;
    req.memory = memory_;
    device_->ioctl(VIDIOC_REQBUFS, &req);
  }
  planes_.clear();
}

bool V4l2BufferQueue::stream(bool on, std::string* error) {
  int t = static_cast<int>(type_);
  if (int r = device_->ioctl(on ? VIDIOC_STREAMON : VIDIOC_STREAMOFF, &t); r != 0) {
    *error = device_->path() + ": " + (on ? "VIDIOC_STREAMON(" : "VIDIOC_STREAMOFF(") + name_ + ") failed: " + v4l2_errno_text(r);
    return false;
  }
  return true;
}

}  // namespace kvs::media
