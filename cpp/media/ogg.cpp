#include "ogg.h"

#include <algorithm>
#include <array>
#include <cstring>

#include <opus/opus.h>

namespace kvs::media {
namespace {

const std::array<uint32_t, 256>& crc_table() {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t r = i << 24;
      for (int k = 0; k < 8; ++k) r = (r & 0x80000000u) ? (r << 1) ^ 0x04c11db7u : r << 1;
      t[i] = r;
    }
    return t;
  }();
  return table;
}

uint32_t rd32(const uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24); }
uint64_t rd64(const uint8_t* p) { return rd32(p) | (static_cast<uint64_t>(rd32(p + 4)) << 32); }
void wr32(uint8_t* p, uint32_t v) { for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i)); }
void wr64(uint8_t* p, uint64_t v) { for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i)); }

constexpr size_t kHeader = 27;
constexpr size_t kMaxPacket = 1 << 20;  // a packet larger than 1 MiB is not audio: refused

}  // namespace

uint32_t ogg_crc_update(uint32_t crc, const uint8_t* data, size_t size) {
  const auto& t = crc_table();
  for (size_t i = 0; i < size; ++i) crc = (crc << 8) ^ t[((crc >> 24) ^ data[i]) & 0xff];
  return crc;
}

uint32_t ogg_crc(const uint8_t* data, size_t size) { return ogg_crc_update(0, data, size); }

bool OggReader::next(OggPacket* packet) {
  while (ready_pos_ >= ready_.size()) {
    ready_.clear();
    ready_pos_ = 0;
    if (!error_.empty() || eos_ || pos_ >= size_) return false;
    if (!read_page()) return false;
  }
  *packet = std::move(ready_[ready_pos_++]);
  return true;
}

bool OggReader::read_page() {
  const size_t at = pos_;
  auto fail = [&](const std::string& what) {
    error_ = "Ogg page at byte " + std::to_string(at) + ": " + what;
    return false;
  };
  const uint8_t* p = data_ + pos_;
  if (std::memcmp(p, "OggS", std::min<size_t>(4, size_ - pos_)) != 0) return fail("no OggS capture pattern (not an Ogg file)");
  if (size_ - pos_ < kHeader) return fail("truncated header (" + std::to_string(size_ - pos_) + " bytes left)");
  if (p[4] != 0) return fail("stream structure version " + std::to_string(p[4]) + " (only 0 exists)");
  const uint8_t type = p[5];
  const int64_t granule = static_cast<int64_t>(rd64(p + 6));
  const uint32_t serial = rd32(p + 14), seq = rd32(p + 18), crc = rd32(p + 22);
  const size_t nsegs = p[26];
  if (size_ - pos_ < kHeader + nsegs) return fail("truncated segment table");
  size_t body = 0;
  for (size_t i = 0; i < nsegs; ++i) body += p[kHeader + i];
  const size_t total = kHeader + nsegs + body;
  if (size_ - pos_ < total) return fail("truncated body (" + std::to_string(total) + " bytes announced, " + std::to_string(size_ - pos_) + " left)");
  static const uint8_t kZero[4] = {0, 0, 0, 0};  // the CRC is computed with its own field zeroed
  uint32_t sum = ogg_crc_update(ogg_crc_update(ogg_crc_update(0, p, 22), kZero, 4), p + 26, total - 26);
  if (sum != crc) return fail("CRC mismatch");
  pos_ += total;
  if (!have_serial_) {
    if (!(type & 0x02)) return fail("the first page is not a beginning-of-stream page");
    have_serial_ = true;
    serial_ = serial;
    page_seq_ = seq;
  } else if (serial != serial_) {
    return true;  // another logical stream (multiplexed): skipped
  } else {
    if (seq != page_seq_ + 1) partial_.clear();  // a page was lost: the packet spanning it is gone
    page_seq_ = seq;
  }
  if ((type & 0x01) == 0) partial_.clear();  // not a continuation: a dangling partial packet is dropped
  const uint8_t* seg = p + kHeader;
  const uint8_t* b = p + kHeader + nsegs;
  size_t off = 0;
  for (size_t i = 0; i < nsegs; ++i) {
    const size_t len = seg[i];
    if (partial_.size() + len > kMaxPacket) return fail("a packet larger than 1 MiB");
    partial_.insert(partial_.end(), b + off, b + off + len);
    off += len;
    if (len < 255) {
      OggPacket pkt;
      pkt.data = std::move(partial_);
      partial_.clear();
      ready_.push_back(std::move(pkt));
    }
  }
  if (!ready_.empty()) {
    // The page's granule position belongs to the last packet that ends on it.
    ready_.back().granule = granule;
  }
  if (type & 0x04) eos_ = true;
  return true;
}

std::vector<uint8_t> OggWriter::add(const uint8_t* data, size_t size, int64_t granule) {
  std::vector<uint8_t> out;
  size_t left = size;
  const uint8_t* p = data;
  if (segments_.size() == 255) out = flush();  // full page between packets
  // Lacing: 255-byte segments, then one < 255 (possibly 0) that ends the packet.
  for (;;) {
    size_t n = left >= 255 ? 255 : left;
    segments_.push_back(static_cast<uint8_t>(n));
    body_.insert(body_.end(), p, p + n);
    p += n;
    left -= n;
    if (n < 255) break;
    if (segments_.size() == 255) {
      // The page is full in the middle of a packet: it ends here, the packet continues.
      auto page = flush();
      out.insert(out.end(), page.begin(), page.end());
      continued_ = true;
    }
  }
  granule_ = granule;
  completed_ = true;
  return out;
}

std::vector<uint8_t> OggWriter::flush(bool eos) {
  if (segments_.empty() && !eos) return {};
  std::vector<uint8_t> page(kHeader + segments_.size() + body_.size());
  uint8_t* h = page.data();
  std::memcpy(h, "OggS", 4);
  h[4] = 0;
  h[5] = static_cast<uint8_t>((continued_ ? 0x01 : 0) | (first_ ? 0x02 : 0) | (eos ? 0x04 : 0));
  // The granule of the last packet that ends on the page; -1 when none does (RFC 3533 6). An
  // empty end-of-stream page repeats the last one.
  wr64(h + 6, static_cast<uint64_t>(completed_ || segments_.empty() ? granule_ : -1));
  wr32(h + 14, serial_);
  wr32(h + 18, sequence_++);
  wr32(h + 22, 0);
  h[26] = static_cast<uint8_t>(segments_.size());
  if (!segments_.empty()) std::memcpy(h + kHeader, segments_.data(), segments_.size());
  if (!body_.empty()) std::memcpy(h + kHeader + segments_.size(), body_.data(), body_.size());
  wr32(h + 22, ogg_crc(page.data(), page.size()));
  first_ = false;
  continued_ = false;
  completed_ = false;
  segments_.clear();
  body_.clear();
  ++pages_;
  return page;
}

bool parse_opus_head(const uint8_t* d, size_t size, OpusHead* head, std::string* error) {
  if (size < 8 || std::memcmp(d, "OpusHead", 8) != 0) {
    *error = "the first packet is not an OpusHead (not an Ogg Opus file; Vorbis/FLAC/Speex are not supported)";
    return false;
  }
  if (size < 19) {
    *error = "OpusHead is " + std::to_string(size) + " bytes (at least 19 needed)";
    return false;
  }
  if ((d[8] & 0xf0) != 0) {
    *error = "OpusHead version " + std::to_string(d[8]) + " (only major version 0 is defined)";
    return false;
  }
  head->channels = d[9];
  head->pre_skip = static_cast<uint16_t>(d[10] | (d[11] << 8));
  head->input_rate = rd32(d + 12);
  head->gain_q8 = static_cast<int16_t>(d[16] | (d[17] << 8));
  head->mapping_family = d[18];
  if (head->channels < 1) {
    *error = "OpusHead channel count is 0";
    return false;
  }
  if (head->mapping_family != 0 || head->channels > 2) {
    *error = "OpusHead channel mapping family " + std::to_string(head->mapping_family) + " with " +
             std::to_string(head->channels) + " channels (only mono or stereo, family 0, is supported)";
    return false;
  }
  return true;
}

std::vector<uint8_t> make_opus_head(int channels, uint16_t pre_skip, uint32_t input_rate) {
  std::vector<uint8_t> h(19, 0);
  std::memcpy(h.data(), "OpusHead", 8);
  h[8] = 1;
  h[9] = static_cast<uint8_t>(channels);
  h[10] = static_cast<uint8_t>(pre_skip & 0xff);
  h[11] = static_cast<uint8_t>(pre_skip >> 8);
  wr32(h.data() + 12, input_rate);
  return h;  // gain 0, mapping family 0
}

bool is_opus_tags(const uint8_t* d, size_t size) { return size >= 16 && std::memcmp(d, "OpusTags", 8) == 0; }

std::vector<uint8_t> make_opus_tags(const std::string& vendor) {
  std::vector<uint8_t> t(8 + 4 + vendor.size() + 4);
  std::memcpy(t.data(), "OpusTags", 8);
  wr32(t.data() + 8, static_cast<uint32_t>(vendor.size()));
  std::memcpy(t.data() + 12, vendor.data(), vendor.size());
  wr32(t.data() + 12 + vendor.size(), 0);  // no user comments
  return t;
}

bool parse_ogg_opus(const uint8_t* data, size_t size, OpusHead* head, std::vector<std::vector<uint8_t>>* packets,
                    std::string* error) {
  OggReader reader(data, size);
  OggPacket p;
  if (!reader.next(&p)) {
    *error = reader.error().empty() ? "empty file" : reader.error();
    return false;
  }
  if (!parse_opus_head(p.data.data(), p.data.size(), head, error)) return false;
  if (!reader.next(&p) || !is_opus_tags(p.data.data(), p.data.size())) {
    *error = reader.error().empty() ? "the second packet is not OpusTags" : reader.error();
    return false;
  }
  packets->clear();
  while (reader.next(&p)) {
    if (opus_packet_get_nb_samples(p.data.data(), static_cast<opus_int32>(p.data.size()), 48000) <= 0) {
      *error = "audio packet " + std::to_string(packets->size()) + " is not a valid Opus packet";
      return false;
    }
    packets->push_back(std::move(p.data));
  }
  if (!reader.error().empty()) {
    *error = reader.error();
    return false;
  }
  if (packets->empty()) {
    *error = "no audio packets after the headers";
    return false;
  }
  return true;
}

}  // namespace kvs::media
