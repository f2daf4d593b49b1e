#include "h264_encoder.h"

#include "annexb.h"
#include "openh264_encoder.h"
#include "v4l2_m2m_encoder.h"

namespace kvs::media {
namespace {

uint32_t rtp_time(int64_t us) { return static_cast<uint32_t>(us * 9 / 100); }

class SoftwareEncoder final : public H264Encoder {
 public:
  SoftwareEncoder(std::unique_ptr<OpenH264Encoder> e, std::string reason)
      : enc_(std::move(e)), reason_(std::move(reason)) {}
  bool encode(const I420Frame& picture, int64_t t, std::vector<EncodedFramePtr>* out,
              std::string* error) override {
    error->clear();
    EncodedFramePtr f = enc_->encode(picture, t, error);
    if (f) out->push_back(std::move(f));
    return error->empty();
  }
  void request_keyframe() override { enc_->request_keyframe(); }
  bool set_bitrate(int kbps) override { return enc_->set_bitrate(kbps); }
  H264EncoderInfo info() const override { return {"openh264", "", reason_}; }

 private:
  std::unique_ptr<OpenH264Encoder> enc_;
  std::string reason_;
};

class HardwareEncoder final : public H264Encoder {
 public:
  HardwareEncoder(std::unique_ptr<V4l2M2mEncoder> e, const H264EncoderSettings& s, std::string reason)
      : enc_(std::move(e)), settings_(s), reason_(std::move(reason)) {}
  bool encode(const I420Frame& picture, int64_t t, std::vector<EncodedFramePtr>* out,
              std::string* error) override {
    V4l2RawFrame raw;
    raw.data = picture.buffer.data();
    raw.size = picture.buffer.size();
    raw.timestamp_us = t;
    coded_.clear();
    if (!enc_->encode(raw, &coded_, error)) return false;
    for (V4l2CodedBuffer& b : coded_) {
      if (b.error || b.data.empty()) {
        ++error_buffers_;
        continue;
      }
      auto f = std::make_shared<EncodedFrame>();
      f->keyframe = b.keyframe;
      f->capture_time_us = b.timestamp_us;
      f->rtp_timestamp = rtp_time(b.timestamp_us);
      f->width = static_cast<uint32_t>(settings_.width);
      f->height = static_cast<uint32_t>(settings_.height);
      f->index = frames_out_++;
      f->data = std::move(b.data);
      out->push_back(std::move(f));
    }
    return true;
  }
  void request_keyframe() override { enc_->request_keyframe(); }
  bool set_bitrate(int kbps) override {
    if (kbps <= 0) return false;
    enc_->set_bitrate(kbps * 1000);
    return true;
  }
  H264EncoderInfo info() const override { return {"v4l2m2m", settings_.device, reason_}; }

 private:
  std::unique_ptr<V4l2M2mEncoder> enc_;
  H264EncoderSettings settings_;
  std::string reason_;
  std::vector<V4l2CodedBuffer> coded_;
  uint64_t frames_out_ = 0, error_buffers_ = 0;
};

std::unique_ptr<H264Encoder> open_software(const H264EncoderSettings& s, std::string reason,
                                           std::string* error) {
  EncoderConfig ec;
  ec.width = s.width;
  ec.height = s.height;
  ec.fps = s.fps;
  ec.bitrate_kbps = s.bitrate_kbps;
  ec.keyframe_interval = s.keyframe_interval;
  ec.qp_min = s.qp_min;
  ec.qp_max = s.qp_max;
  auto e = OpenH264Encoder::create(ec, error);
  if (!e) return nullptr;
  return std::make_unique<SoftwareEncoder>(std::move(e), std::move(reason));
}

std::unique_ptr<HardwareEncoder> open_hardware(const H264EncoderSettings& s, std::string* error) {
  if (s.device.empty()) {
    *error = "no V4L2 M2M encoder device (the board profile names none and video.encoderDevice is unset)";
    return nullptr;
  }
  V4l2EncoderConfig c;
  c.device = s.device;
  c.coded_format = s.coded_format_for_test ? s.coded_format_for_test : V4L2_PIX_FMT_H264;
  c.input_format = V4L2_PIX_FMT_YUV420;
  c.width = s.width;
  c.height = s.height;
  c.fps = s.fps;
  c.bitrate_bps = s.bitrate_kbps * 1000;
  c.idr_period = s.keyframe_interval;
  c.qp_min = s.qp_min;
  c.qp_max = s.qp_max;
  for (const std::string& q : s.quirks) {
    if (!apply_v4l2_encoder_quirk(q, &c)) {
      *error = "board profile quirk \"" + q + "\" is not known to this build";
      return nullptr;
    }
  }
  if (s.cid_bitrate) c.cid_bitrate = s.cid_bitrate;
  if (s.cid_idr_period) c.cid_idr_period = s.cid_idr_period;
  if (s.width_align > 0) c.width_align = s.width_align;
  if (s.height_align > 0) c.height_align = s.height_align;
  auto enc = std::make_unique<V4l2M2mEncoder>(c);
  if (!enc->open(error)) return nullptr;
  const std::string what = s.device + " (" + enc->driver() + ")";
  return std::make_unique<HardwareEncoder>(std::move(enc), s, what);
}

// `auto` with a hardware encoder that opened: runs it, and falls back to openh264 for good if
// it fails or its first access units are not H.264 (an SPS and an IDR within kVerifyFrames).
class AutoEncoder final : public H264Encoder {
 public:
  static constexpr int kVerifyFrames = 8;
  AutoEncoder(std::unique_ptr<HardwareEncoder> hw, const H264EncoderSettings& s)
      : hw_(std::move(hw)), settings_(s) {
    info_ = hw_->info();
    info_.reason = "auto: hardware encoder " + info_.reason + " opened with H.264 output";
  }
  bool encode(const I420Frame& picture, int64_t t, std::vector<EncodedFramePtr>* out,
              std::string* error) override {
    if (sw_) return sw_->encode(picture, t, out, error);
    std::vector<EncodedFramePtr> got;
    std::string e;
    const bool ok = hw_->encode(picture, t, &got, &e);
    if (ok && !verified_) {
      for (const auto& f : got)
        if (is_h264_idr_access_unit(f->data.data(), f->data.size())) verified_ = true;
      ++frames_in_;
    }
    if (ok && (verified_ || frames_in_ < kVerifyFrames)) {
      for (auto& f : got) out->push_back(std::move(f));
      return true;
    }
    const std::string why = ok ? "gave no H.264 IDR access unit in its first " + std::to_string(kVerifyFrames) + " frames" : "failed: " + e;
    std::string reason = "auto: hardware encoder " + settings_.device + " " + why + "; software encoder";
    sw_ = open_software(settings_, reason, error);
    if (!sw_) return false;
    hw_.reset();
    changed_ = true;
    if (keyframe_) sw_->request_keyframe();
    return sw_->encode(picture, t, out, error);
  }
  void request_keyframe() override {
    if (sw_) sw_->request_keyframe();
    else hw_->request_keyframe();
  }
  bool set_bitrate(int kbps) override {
    settings_.bitrate_kbps = kbps > 0 ? kbps : settings_.bitrate_kbps;
    return sw_ ? sw_->set_bitrate(kbps) : hw_->set_bitrate(kbps);
  }
  H264EncoderInfo info() const override { return sw_ ? sw_->info() : info_; }
  bool take_info_change() override {
    bool c = changed_;
    changed_ = false;
    return c;
  }

 private:
  std::unique_ptr<HardwareEncoder> hw_;
  std::unique_ptr<H264Encoder> sw_;
  H264EncoderSettings settings_;
  H264EncoderInfo info_;
  bool verified_ = false, changed_ = false, keyframe_ = true;
  int frames_in_ = 0;
};

}  // namespace

bool is_h264_idr_access_unit(const uint8_t* data, size_t size) {
  if (size < 4 || !(data[0] == 0 && data[1] == 0 && (data[2] == 1 || (data[2] == 0 && data[3] == 1))))
    return false;
  bool sps = false, idr = false;
  for (const NalUnit& n : split_annexb(data, size)) {
    if (n.data[0] & 0x80) return false;  // forbidden_zero_bit
    sps = sps || n.type() == kNalSps;
    idr = idr || n.type() == kNalIdr;
  }
  return sps && idr;
}

std::unique_ptr<H264Encoder> open_h264_encoder(const H264EncoderSettings& s, std::string* error) {
  if (s.kind == "openh264") return open_software(s, "configured: video.encoder openh264", error);
  if (s.kind == "v4l2m2m") {
    std::string e;
    auto hw = open_hardware(s, &e);
    if (!hw) {
      *error = "video.encoder v4l2m2m: " + e;
      return nullptr;
    }
    return hw;
  }
  if (s.kind != "auto") {
    *error = "invalid video config: encoder=\"" + s.kind + "\" (supported: \"auto\", \"openh264\", \"v4l2m2m\")";
    return nullptr;
  }
  std::string e;
  auto hw = open_hardware(s, &e);
  if (hw) return std::make_unique<AutoEncoder>(std::move(hw), s);
  return open_software(s, "auto: " + e + "; software encoder", error);
}

}  // namespace kvs::media
