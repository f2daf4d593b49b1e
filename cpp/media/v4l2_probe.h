// What V4L2 device nodes a machine has and what they can do: `kvs-edge probe` and `auto`'s
// decision read this. Opening goes through V4l2Device (libv4l2, so vendor plugins answer too).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace kvs::media {

struct V4l2NodeInfo {
  std::string path;
  bool opened = false;
  std::string error;  // why it did not open / is not V4L2
  std::string driver, card, bus_info;
  uint32_t device_caps = 0;
  std::vector<std::string> capabilities;  // "video-capture", "video-m2m-mplane", "streaming", ...
  std::vector<std::string> capture_formats;  // fourcc names on the CAPTURE queue
  std::vector<std::string> output_formats;   // fourcc names on the OUTPUT queue (M2M: raw input)
  bool is_capture = false;       // a camera-like capture node (not M2M)
  bool is_m2m = false;
  bool is_h264_encoder = false;  // M2M, H.264 on CAPTURE, a raw format (NV12/YU12/YUYV) on OUTPUT
};

// /dev/video* (under dev_dir), sorted by number.
std::vector<std::string> list_video_nodes(const std::string& dev_dir = "/dev");
// Opens, queries capabilities and formats, closes. Never throws; failures go to .error.
V4l2NodeInfo probe_v4l2_node(const std::string& path);

}  // namespace kvs::media
