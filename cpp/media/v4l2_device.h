// A V4L2 device node opened through libv4l2 (so vendor plugins such as Jetson's NVIDIA plugin
// are loaded), plus the small helpers the capture source and the M2M encoder share.
#pragma once
#include <linux/videodev2.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kvs::media {

// "H264", "NV12", ... for a V4L2 fourcc; non-printable bytes become '.'.
std::string v4l2_fourcc_name(uint32_t fourcc);
// Inverse of v4l2_fourcc_name for 4-character names, plus the aliases "I420" (= YU12) and
// "H.264" (= H264). Returns 0 for anything else.
uint32_t v4l2_fourcc_from_name(std::string_view name);

// The raw formats the encoder accepts and the capture source delivers uncompressed.
enum class V4l2Chroma { kPacked422, kInterleaved420, kPlanar420 };  // YUYV, NV12, YU12
// Returns false for formats outside YUYV / NV12 / YU12 (I420).
bool v4l2_raw_chroma(uint32_t fourcc, V4l2Chroma* chroma);
// Size of a tightly packed frame (luma stride = width, YUYV stride = 2 * width); 0 if unknown.
size_t v4l2_packed_frame_size(uint32_t fourcc, int width, int height);

class V4l2Device {
 public:
  V4l2Device() = default;
  ~V4l2Device();
  V4l2Device(const V4l2Device&) = delete;
  V4l2Device& operator=(const V4l2Device&) = delete;

  // Opens the node non-blocking and hands it to libv4l2 (v4l2_fd_open). With
  // disable_conversion, libv4l2 passes formats through instead of emulating converted ones.
  // Fails with a message naming the path and the reason (missing node, not a V4L2 device...).
  bool open(const std::string& path, bool disable_conversion, std::string* error);
  void close();
  bool is_open() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

  // v4l2_ioctl, retried on EINTR. Returns 0, or -errno.
  int ioctl(unsigned long request, void* arg);
  // The errno of the last failed ioctl other than EAGAIN (0 after clear_last_error()).
  int last_error() const { return last_error_; }
  void clear_last_error() { last_error_ = 0; }
  void set_last_error(int e) { last_error_ = e; }
  void* mmap(size_t length, int64_t offset);
  void munmap(void* addr, size_t length);
  // poll() on the fd for the given events. Returns the revents, 0 on timeout, -errno on error.
  int poll(short events, int timeout_ms);

  const v4l2_capability& caps() const { return caps_; }
  uint32_t device_caps() const;

  // Test hook: closes the underlying descriptor behind libv4l2's back so that every following
  // ioctl fails as it would after the device vanished.
  void break_for_test();

 private:
  int fd_ = -1;
  int last_error_ = 0;
  std::string path_;
  v4l2_capability caps_{};
};

std::string v4l2_errno_text(int negative_errno);

// One mapped memory plane of a V4L2 buffer.
struct V4l2MappedPlane {
  void* addr = nullptr;
  size_t length = 0;
};

// The buffer bookkeeping the capture source, the M2M encoder and the qemu test binary share:
// VIDIOC_REQBUFS, then for MMAP VIDIOC_QUERYBUF + mmap of every plane; release() unmaps and
// frees (REQBUFS 0); stream() is STREAMON/STREAMOFF. Errors name the device, the queue and the
// ioctl. Not thread-safe.
class V4l2BufferQueue {
 public:
  V4l2BufferQueue(V4l2Device& device, uint32_t type, std::string name)
      : device_(&device), type_(type), name_(std::move(name)) {}
  ~V4l2BufferQueue() { release(); }
  V4l2BufferQueue(const V4l2BufferQueue&) = delete;
  V4l2BufferQueue& operator=(const V4l2BufferQueue&) = delete;

  // Asks for `count` buffers of `memory` (MMAP buffers are queried and mapped; DMABUF ones are
  // only allocated). The driver may give another count: size() says how many.
  bool allocate(uint32_t memory, bool mplane, int count, std::string* error);
  void release();
  bool stream(bool on, std::string* error);

  size_t size() const { return planes_.size(); }
  const std::vector<V4l2MappedPlane>& planes(size_t index) const { return planes_[index]; }
  uint32_t type() const { return type_; }
  uint32_t memory() const { return memory_; }
  void set_type(uint32_t type) { type_ = type; }

 private:
  V4l2Device* device_;
  uint32_t type_;
  uint32_t memory_ = V4L2_MEMORY_MMAP;
  std::string name_;
  std::vector<std::vector<V4l2MappedPlane>> planes_;
};

}  // namespace kvs::media
