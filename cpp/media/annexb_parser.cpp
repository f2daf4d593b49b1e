#include "annexb_parser.h"

#include <algorithm>

#include "annexb.h"

namespace kvs::media {
namespace {

const uint8_t kStartCode[4] = {0, 0, 0, 1};

bool is_vcl(uint8_t type) { return type >= 1 && type <= 5; }

// H.264 7.4.1.2.3: these NAL types after a VCL NAL unit start a new access unit.
bool starts_new_au(uint8_t type) {
  return type == kNalSei || type == kNalSps || type == kNalPps || type == kNalAud ||
         (type >= 14 && type <= 18);
}

}  // namespace

AnnexBParser::AnnexBParser(size_t max_nal_size) : max_nal_(std::max<size_t>(max_nal_size, 16)) {}

void AnnexBParser::push(const uint8_t* data, size_t size, std::vector<H264AccessUnit>* out) {
  for (size_t i = 0; i < size; ++i) {
    const uint8_t b = data[i];
    if (b == 0) {
      if (zeros_ < 1 << 30) ++zeros_;
      continue;
    }
    if (b == 1 && zeros_ >= 2) {  // start code: 00 00 01 (extra zeros are trailing_zero_8bits)
      if (in_nal_ && !overflow_) on_nal(pending_.data(), pending_.size(), out);
      pending_.clear();
      in_nal_ = true;
      overflow_ = false;
      zeros_ = 0;
      continue;
    }
    if (in_nal_ && !overflow_) {
      if (pending_.size() + size_t(zeros_) + 1 > max_nal_) {
        overflow_ = true;
        pending_.clear();
        ++stats_.dropped_oversize;
      } else {
        pending_.insert(pending_.end(), size_t(zeros_), uint8_t(0));
        pending_.push_back(b);
      }
    }
    zeros_ = 0;
  }
}

void AnnexBParser::flush(std::vector<H264AccessUnit>* out) {
  if (in_nal_ && !overflow_) on_nal(pending_.data(), pending_.size(), out);
  pending_.clear();
  in_nal_ = false;
  overflow_ = false;
  zeros_ = 0;
  if (au_has_vcl_) finish_au(out);
  au_ = H264AccessUnit{};
  au_has_vcl_ = false;
}

void AnnexBParser::on_nal(const uint8_t* nal, size_t size, std::vector<H264AccessUnit>* out) {
  if (size == 0) return;
  if (nal[0] & 0x80) return;  // forbidden_zero_bit set: not H.264, drop it
  ++stats_.nal_units;
  const uint8_t type = nal[0] & 0x1f;
  if (au_has_vcl_) {
    // A slice with first_mb_in_slice == 0 (ue(v) "1" bit first) starts a new picture.
    const bool first_slice = is_vcl(type) && size > 1 && (nal[1] & 0x80);
    if (starts_new_au(type) || first_slice) finish_au(out);
  }
  if (type == kNalSps) {
    sps_.assign(nal, nal + size);
    au_.has_sps = true;
  } else if (type == kNalPps) {
    pps_.assign(nal, nal + size);
    au_.has_pps = true;
  }
  if (type == kNalIdr && !au_.keyframe) {
    au_.keyframe = true;
    if (insert_ps_ && !(au_.has_sps && au_.has_pps) && !sps_.empty() && !pps_.empty()) {
      for (const auto* ps : {&sps_, &pps_}) {
        au_.data.insert(au_.data.end(), kStartCode, kStartCode + 4);
        au_.data.insert(au_.data.end(), ps->begin(), ps->end());
      }
      au_.has_sps = au_.has_pps = true;
      au_.nal_count += 2;
      ++stats_.sps_pps_inserted;
    }
  }
  au_.data.insert(au_.data.end(), kStartCode, kStartCode + 4);
  au_.data.insert(au_.data.end(), nal, nal + size);
  ++au_.nal_count;
  if (is_vcl(type)) au_has_vcl_ = true;
  // Bound one access unit: a stream that never starts a new one is cut into pieces.
  if (au_.data.size() > 4 * max_nal_) {
    if (au_has_vcl_) finish_au(out);
    else au_ = H264AccessUnit{};
  }
}

void AnnexBParser::finish_au(std::vector<H264AccessUnit>* out) {
  ++stats_.access_units;
  if (au_.keyframe) ++stats_.keyframes;
  out->push_back(std::move(au_));
  au_ = H264AccessUnit{};
  au_has_vcl_ = false;
}

}  // namespace kvs::media
