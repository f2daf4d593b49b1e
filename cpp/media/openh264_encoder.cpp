#include "openh264_encoder.h"

#include <wels/codec_api.h>

#include <algorithm>
#include <cstring>

#include "annexb.h"

namespace kvs::media {
namespace {

constexpr uint8_t kStartCode[] = {0, 0, 0, 1};

// openh264 clamps its frame rate to 30 (MAX_FRAME_RATE in its wels_const.h) and budgets bits
// per picture from it, so above 30 fps it would overshoot the bitrate and then skip pictures.
// Above 30 fps we show it a 30 fps stream instead: timestamps and bitrate scaled by 30/fps,
// which keeps both its per-picture budget and its buffer model right.
constexpr int kOpenH264MaxFps = 30;

// Lowest level whose limits (H.264 Table A-1: MaxMBPS, MaxFS, MaxBR in 1200 bit/s units for
// Baseline NAL HRD) fit the stream. Chosen here because openh264 only sees the scaled rate.
ELevelIdc level_for(int width, int height, int fps, int bitrate_kbps) {
  struct Limits {
    ELevelIdc level;
    int64_t max_mbps, max_fs, max_br;
  };
  static constexpr Limits kLevels[] = {
      {LEVEL_1_0, 1485, 99, 64},          {LEVEL_1_1, 3000, 396, 192},
      {LEVEL_1_2, 6000, 396, 384},        {LEVEL_1_3, 11880, 396, 768},
      {LEVEL_2_0, 11880, 396, 2000},      {LEVEL_2_1, 19800, 792, 4000},
      {LEVEL_2_2, 20250, 1620, 4000},     {LEVEL_3_0, 40500, 1620, 10000},
      {LEVEL_3_1, 108000, 3600, 14000},   {LEVEL_3_2, 216000, 5120, 20000},
      {LEVEL_4_0, 245760, 8192, 20000},   {LEVEL_4_1, 245760, 8192, 50000},
      {LEVEL_4_2, 522240, 8704, 50000},   {LEVEL_5_0, 589824, 22080, 135000},
      {LEVEL_5_1, 983040, 36864, 240000}, {LEVEL_5_2, 2073600, 36864, 240000},
  };
  const int64_t mbs = static_cast<int64_t>((width + 15) / 16) * ((height + 15) / 16);
  for (const Limits& l : kLevels) {
    if (mbs <= l.max_fs && mbs * fps <= l.max_mbps && bitrate_kbps * 1000LL <= l.max_br * 1200) {
      return l.level;
    }
  }
  return LEVEL_5_2;  // 4K above 60 fps: nothing fits, use the highest openh264 knows
}

void append_nal(std::vector<uint8_t>& out, const NalUnit& nal) {
  const size_t at = out.size();
  out.resize(at + sizeof(kStartCode) + nal.size);
  std::memcpy(out.data() + at, kStartCode, sizeof(kStartCode));
  std::memcpy(out.data() + at + sizeof(kStartCode), nal.data, nal.size);
}

}  // namespace

void OpenH264Encoder::Deleter::operator()(ISVCEncoder* encoder) const {
  encoder->Uninitialize();
  WelsDestroySVCEncoder(encoder);
}

OpenH264Encoder::~OpenH264Encoder() = default;

std::unique_ptr<OpenH264Encoder> OpenH264Encoder::create(const EncoderConfig& config,
                                                         std::string* error) {
  ISVCEncoder* raw = nullptr;
  if (WelsCreateSVCEncoder(&raw) != 0 || raw == nullptr) {
    *error = "openh264: WelsCreateSVCEncoder failed";
    return nullptr;
  }
  std::unique_ptr<OpenH264Encoder> self(new OpenH264Encoder(config));
  self->encoder_.reset(raw);

  int log_level = WELS_LOG_ERROR;  // openh264 prints warnings to stdout otherwise
  raw->SetOption(ENCODER_OPTION_TRACE_LEVEL, &log_level);

  SEncParamExt p;
  raw->GetDefaultParams(&p);
  p.iUsageType = CAMERA_VIDEO_REAL_TIME;
  p.iPicWidth = config.width;
  p.iPicHeight = config.height;
  p.iTargetBitrate = self->openh264_bps(config.bitrate_kbps);
  p.iMaxBitrate = UNSPECIFIED_BIT_RATE;
  p.iRCMode = RC_BITRATE_MODE;
  p.bEnableFrameSkip = true;  // skipped pictures are simply not emitted
  p.fMaxFrameRate = static_cast<float>(std::min(config.fps, kOpenH264MaxFps));
  p.iTemporalLayerNum = 1;
  p.iSpatialLayerNum = 1;
  p.uiIntraPeriod = static_cast<unsigned>(config.keyframe_interval);
  p.iNumRefFrame = 1;
  // Fixed SPS/PPS ids: every IDR repeats the same parameter sets, which packetizers and
  // receivers that join late handle best.
  p.eSpsPpsIdStrategy = CONSTANT_ID;
  p.bPrefixNalAddingCtrl = false;
  p.bEnableSSEI = false;
  p.bSimulcastAVC = false;
  p.iEntropyCodingModeFlag = 0;  // CAVLC: Baseline has no CABAC
  p.iComplexityMode = LOW_COMPLEXITY;
  p.iMultipleThreadIdc = 1;  // the media thread is the only thread
  p.bEnableDenoise = false;
  if (config.qp_min > 0) p.iMinQp = config.qp_min;
  if (config.qp_max > 0) p.iMaxQp = config.qp_max;

  SSpatialLayerConfig& layer = p.sSpatialLayers[0];
  layer.iVideoWidth = config.width;
  layer.iVideoHeight = config.height;
  layer.fFrameRate = p.fMaxFrameRate;
  layer.iSpatialBitrate = p.iTargetBitrate;
  layer.iMaxSpatialBitrate = UNSPECIFIED_BIT_RATE;
  layer.uiProfileIdc = PRO_BASELINE;
  layer.uiLevelIdc = level_for(config.width, config.height, config.fps, config.bitrate_kbps);
  layer.sSliceArgument.uiSliceMode = SM_SINGLE_SLICE;

  if (int rc = raw->InitializeExt(&p); rc != cmResultSuccess) {
    *error = "openh264: InitializeExt failed (code " + std::to_string(rc) + ") for " +
             std::to_string(config.width) + "x" + std::to_string(config.height) + " at " +
             std::to_string(config.fps) + " fps, " + std::to_string(config.bitrate_kbps) + " kbps";
    return nullptr;
  }
  int format = videoFormatI420;
  raw->SetOption(ENCODER_OPTION_DATAFORMAT, &format);
  return self;
}

int OpenH264Encoder::openh264_bps(int kbps) const {
  return static_cast<int>(kbps * 1000LL * std::min(config_.fps, kOpenH264MaxFps) / config_.fps);
}

bool OpenH264Encoder::set_bitrate(int kbps) {
  if (kbps <= 0) return false;
  SBitrateInfo info{};
  info.iLayer = SPATIAL_LAYER_ALL;
  info.iBitrate = openh264_bps(kbps);
  if (encoder_->SetOption(ENCODER_OPTION_BITRATE, &info) != cmResultSuccess) return false;
  config_.bitrate_kbps = kbps;
  return true;
}

EncodedFramePtr OpenH264Encoder::encode(const I420Frame& picture, int64_t capture_time_us,
                                        std::string* error) {
  if (picture.width != config_.width || picture.height != config_.height) {
    *error = "openh264: picture is " + std::to_string(picture.width) + "x" +
             std::to_string(picture.height) + ", encoder expects " + std::to_string(config_.width) +
             "x" + std::to_string(config_.height);
    return nullptr;
  }
  SSourcePicture src{};
  src.iColorFormat = videoFormatI420;
  src.iPicWidth = picture.width;
  src.iPicHeight = picture.height;
  src.iStride[0] = picture.stride_y();
  src.iStride[1] = src.iStride[2] = picture.stride_uv();
  // openh264 takes non-const plane pointers but only reads them.
  src.pData[0] = const_cast<uint8_t*>(picture.y());
  src.pData[1] = const_cast<uint8_t*>(picture.u());
  src.pData[2] = const_cast<uint8_t*>(picture.v());
  // openh264 rate control works in milliseconds, on its (possibly slowed) clock.
  src.uiTimeStamp = capture_time_us * std::min(config_.fps, kOpenH264MaxFps) / config_.fps / 1000;

  // Re-armed on every picture until an IDR comes out: a forced IDR that rate control skips
  // must not be lost.
  if (keyframe_pending_) encoder_->ForceIntraFrame(true);

  SFrameBSInfo info{};
  if (int rc = encoder_->EncodeFrame(&src, &info); rc != cmResultSuccess) {
    *error = "openh264: EncodeFrame failed (code " + std::to_string(rc) + ")";
    return nullptr;
  }
  if (info.eFrameType == videoFrameTypeSkip) return nullptr;
  if (info.eFrameType == videoFrameTypeInvalid) {
    *error = "openh264: EncodeFrame returned an invalid frame";
    return nullptr;
  }

  std::vector<uint8_t> bytes;
  for (int l = 0; l < info.iLayerNum; ++l) {
    const SLayerBSInfo& layer = info.sLayerInfo[l];
    size_t size = 0;
    for (int n = 0; n < layer.iNalCount; ++n) size += static_cast<size_t>(layer.pNalLengthInByte[n]);
    bytes.insert(bytes.end(), layer.pBsBuf, layer.pBsBuf + size);
  }
  if (bytes.empty()) return nullptr;  // nothing coded: treat as a skip

  const bool idr = info.eFrameType == videoFrameTypeIDR;
  auto frame = std::make_shared<EncodedFrame>();
  assemble(bytes.data(), bytes.size(), idr, frame->data);
  if (idr) keyframe_pending_ = false;
  frame->keyframe = idr;
  frame->capture_time_us = capture_time_us;
  // RTP video clock is 90 kHz (RFC 6184 section 5.1); wraps modulo 2^32 by design.
  frame->rtp_timestamp = static_cast<uint32_t>(capture_time_us * 9 / 100);
  frame->width = static_cast<uint32_t>(config_.width);
  frame->height = static_cast<uint32_t>(config_.height);
  frame->index = frames_out_++;
  return frame;
}

void OpenH264Encoder::assemble(const uint8_t* data, size_t size, bool idr,
                               std::vector<uint8_t>& out) {
  const std::vector<NalUnit> nals = split_annexb(data, size);
  const NalUnit* sps = nullptr;
  const NalUnit* pps = nullptr;
  for (const NalUnit& nal : nals) {
    if (nal.type() == kNalSps && !sps) sps = &nal;
    if (nal.type() == kNalPps && !pps) pps = &nal;
  }
  if (sps && pps) {
    parameter_sets_.clear();
    append_nal(parameter_sets_, *sps);
    append_nal(parameter_sets_, *pps);
  }
  out.reserve(size + (idr ? parameter_sets_.size() : 0));
  // openh264 writes SPS+PPS with each IDR; this guards the RTP contract if it ever doesn't.
  if (idr && !(sps && pps)) out.insert(out.end(), parameter_sets_.begin(), parameter_sets_.end());
  for (const NalUnit& nal : nals) append_nal(out, nal);
}

}  // namespace kvs::media
