// Streaming H.264 Annex-B parser for sources that already give H.264 (UVC H.264 cameras,
// `rpicam-vid --codec h264`, GStreamer pipelines, Annex-B files): bytes arrive in arbitrary
// chunks, access units come out whole, with SPS/PPS cached so that every keyframe can be sent
// self-contained. Input is untrusted: every size is bounded and nothing reads out of range.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace kvs::media {

struct H264AccessUnit {
  std::vector<uint8_t> data;  // Annex-B, each NAL unit after a 4-byte start code
  bool keyframe = false;      // contains an IDR slice
  bool has_sps = false;
  bool has_pps = false;
  size_t nal_count = 0;
};

struct AnnexBParserStats {
  uint64_t access_units = 0;
  uint64_t keyframes = 0;
  uint64_t nal_units = 0;
  uint64_t dropped_oversize = 0;  // NAL units over max_nal_size, discarded
  uint64_t sps_pps_inserted = 0;  // keyframes that got the cached SPS/PPS prepended
};

class AnnexBParser {
 public:
  // max_nal_size bounds the memory one NAL unit (and so one access unit) may take.
  explicit AnnexBParser(size_t max_nal_size = 4 * 1024 * 1024);

  // Feeds bytes; appends every access unit completed by them to *out.
  void push(const uint8_t* data, size_t size, std::vector<H264AccessUnit>* out);
  // End of stream: the NAL unit and access unit still buffered come out.
  void flush(std::vector<H264AccessUnit>* out);

  // With this on (default), an IDR access unit without SPS/PPS gets the last ones seen in front.
  void set_insert_parameter_sets(bool on) { insert_ps_ = on; }
  const std::vector<uint8_t>& sps() const { return sps_; }  // NAL bytes, no start code
  const std::vector<uint8_t>& pps() const { return pps_; }
  const AnnexBParserStats& stats() const { return stats_; }

 private:
  void on_nal(const uint8_t* nal, size_t size, std::vector<H264AccessUnit>* out);
  void finish_au(std::vector<H264AccessUnit>* out);

  size_t max_nal_;
  std::vector<uint8_t> pending_;  // bytes of the NAL unit being received (after its start code)
  bool in_nal_ = false;           // a start code has been seen
  bool overflow_ = false;         // the current NAL unit exceeded max_nal_ and is being skipped
  int zeros_ = 0;                 // zero bytes seen at the end of the input so far
  H264AccessUnit au_;
  bool au_has_vcl_ = false;
  std::vector<uint8_t> sps_, pps_;
  bool insert_ps_ = true;
  AnnexBParserStats stats_;
};

}  // namespace kvs::media
