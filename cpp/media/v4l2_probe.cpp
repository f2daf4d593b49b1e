#include "v4l2_probe.h"

#include <dirent.h>
#include <linux/videodev2.h>

#include <algorithm>
#include <cstdlib>

#include "v4l2_device.h"

namespace kvs::media {
namespace {

std::vector<uint32_t> enum_formats(V4l2Device& d, uint32_t type) {
  std::vector<uint32_t> out;
  for (uint32_t i = 0; i < 64; ++i) {
    v4l2_fmtdesc f{};
    f.index = i;
    f.type = type;
    if (d.ioctl(VIDIOC_ENUM_FMT, &f) != 0) break;
    if (f.flags & V4L2_FMT_FLAG_EMULATED) continue;
    out.push_back(f.pixelformat);
  }
  return out;
}

}  // namespace

std::vector<std::string> list_video_nodes(const std::string& dev_dir) {
  std::vector<std::pair<long, std::string>> found;
  if (DIR* d = opendir(dev_dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n.rfind("video", 0) != 0 || n.size() == 5) continue;
      char* end = nullptr;
      long num = std::strtol(n.c_str() + 5, &end, 10);
      if (*end != '\0') continue;
      found.emplace_back(num, dev_dir + "/" + n);
    }
    closedir(d);
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& f : found) out.push_back(f.second);
  return out;
}

V4l2NodeInfo probe_v4l2_node(const std::string& path) {
  V4l2NodeInfo info;
  info.path = path;
  V4l2Device d;
  if (!d.open(path, true, &info.error)) return info;
  info.opened = true;
  const v4l2_capability& c = d.caps();
  info.driver = reinterpret_cast<const char*>(c.driver);
  info.card = reinterpret_cast<const char*>(c.card);
  info.bus_info = reinterpret_cast<const char*>(c.bus_info);
  const uint32_t caps = d.device_caps();
  info.device_caps = caps;
  static const std::pair<uint32_t, const char*> kNames[] = {
      {V4L2_CAP_VIDEO_CAPTURE, "video-capture"}, {V4L2_CAP_VIDEO_CAPTURE_MPLANE, "video-capture-mplane"},
      {V4L2_CAP_VIDEO_OUTPUT, "video-output"},   {V4L2_CAP_VIDEO_OUTPUT_MPLANE, "video-output-mplane"},
      {V4L2_CAP_VIDEO_M2M, "video-m2m"},         {V4L2_CAP_VIDEO_M2M_MPLANE, "video-m2m-mplane"},
      {V4L2_CAP_META_CAPTURE, "meta-capture"},   {V4L2_CAP_STREAMING, "streaming"},
      {V4L2_CAP_READWRITE, "readwrite"}};
  for (auto& [bit, name] : kNames)
    if (caps & bit) info.capabilities.push_back(name);
  info.is_m2m = (caps & (V4L2_CAP_VIDEO_M2M | V4L2_CAP_VIDEO_M2M_MPLANE)) != 0;
  const bool mplane = (caps & (V4L2_CAP_VIDEO_M2M_MPLANE | V4L2_CAP_VIDEO_CAPTURE_MPLANE)) &&
                      !(caps & (V4L2_CAP_VIDEO_M2M | V4L2_CAP_VIDEO_CAPTURE));
  const uint32_t cap_type = mplane ? V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE : V4L2_BUF_TYPE_VIDEO_CAPTURE;
  const uint32_t out_type = mplane ? V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE : V4L2_BUF_TYPE_VIDEO_OUTPUT;
  const auto capf = enum_formats(d, cap_type);
  const auto outf = info.is_m2m ? enum_formats(d, out_type) : std::vector<uint32_t>{};
  for (uint32_t f : capf) info.capture_formats.push_back(v4l2_fourcc_name(f));
  for (uint32_t f : outf) info.output_formats.push_back(v4l2_fourcc_name(f));
  info.is_capture = !info.is_m2m && (caps & (V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_VIDEO_CAPTURE_MPLANE));
  V4l2Chroma ch;
  info.is_h264_encoder = info.is_m2m && std::find(capf.begin(), capf.end(), V4L2_PIX_FMT_H264) != capf.end() &&
                         std::any_of(outf.begin(), outf.end(), [&](uint32_t f) { return v4l2_raw_chroma(f, &ch); });
  return info;
}

}  // namespace kvs::media
