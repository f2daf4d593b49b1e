#include "v4l2_device.h"

#include <fcntl.h>
#include <libv4l2.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

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

}  // namespace kvs::media
