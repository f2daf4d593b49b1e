// Factories shared between video_pipeline.cpp and h264_stream_pipeline.cpp (not public API).
#pragma once
#include <memory>

#include "v4l2_capture.h"
#include "video_pipeline.h"

namespace kvs::media {

// H.264 from a V4L2 capture device (UVC cameras with H.264), passed through.
std::unique_ptr<VideoPipeline> make_v4l2_h264_pipeline(const VideoConfig& config,
                                                       std::unique_ptr<V4l2Capture> capture,
                                                       VideoPipeline::FrameCallback on_frame);
// Adds the capture-timestamp SEI to a frame when the config asks for it (a copy: frames are
// immutable once published).
EncodedFramePtr with_capture_timestamp(const VideoConfig& config, EncodedFramePtr frame);

}  // namespace kvs::media
