// Ogg (RFC 3533) pages and the Ogg Opus mapping (RFC 7845): a reader that splits untrusted bytes
// into the packets of one logical stream, a writer that makes pages, and the OpusHead header.
// No libogg: the format is small, and the reader must be fuzzed as our own code anyway.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace kvs::media {

uint32_t ogg_crc(const uint8_t* data, size_t size);  // CRC-32, polynomial 0x04c11db7, no reflection
uint32_t ogg_crc_update(uint32_t crc, const uint8_t* data, size_t size);

struct OggPacket {
  std::vector<uint8_t> data;
  int64_t granule = -1;  // the granule position of the page the packet ends on, if it is the last one there
};

// Reads the packets of the first logical stream (the first page's serial number); pages of other
// streams are skipped. Every page's capture pattern, version and CRC are checked.
class OggReader {
 public:
  OggReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  // false at the end or on an error (then error() is non-empty and names what is wrong and where).
  bool next(OggPacket* packet);
  const std::string& error() const { return error_; }
  bool eos() const { return eos_; }  // the stream's last page (header type 0x04) was read

 private:
  bool read_page();
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  bool have_serial_ = false, eos_ = false;
  uint32_t serial_ = 0;
  uint32_t page_seq_ = 0;
  std::vector<uint8_t> partial_;  // a packet continued on the next page
  std::vector<OggPacket> ready_;
  size_t ready_pos_ = 0;
  std::string error_;
};

// Writes one logical stream: packets are gathered into pages; flush() ends a page.
class OggWriter {
 public:
  explicit OggWriter(uint32_t serial) : serial_(serial) {}
  // Adds a packet ending at `granule`. Returns the bytes of any pages completed.
  std::vector<uint8_t> add(const uint8_t* data, size_t size, int64_t granule);
  std::vector<uint8_t> flush(bool eos = false);  // the current page (if any) as bytes
  bool pending() const { return !segments_.empty(); }
  uint64_t pages() const { return pages_; }

 private:
  uint32_t serial_;
  uint32_t sequence_ = 0;
  bool first_ = true, continued_ = false, completed_ = false;
  int64_t granule_ = -1;
  std::vector<uint8_t> segments_, body_;
  uint64_t pages_ = 0;
};

struct OpusHead {
  int channels = 0;
  uint16_t pre_skip = 0;
  uint32_t input_rate = 0;
  int16_t gain_q8 = 0;
  int mapping_family = 0;
};

// Parses an OpusHead packet (RFC 7845 5.1); false with *error naming the field on failure.
// Only mapping family 0 (mono or stereo, what RTP can carry) is accepted.
bool parse_opus_head(const uint8_t* data, size_t size, OpusHead* head, std::string* error);
std::vector<uint8_t> make_opus_head(int channels, uint16_t pre_skip, uint32_t input_rate);
bool is_opus_tags(const uint8_t* data, size_t size);
std::vector<uint8_t> make_opus_tags(const std::string& vendor);

// A whole Ogg Opus file: its OpusHead, OpusTags checked, and every audio packet (each one a valid
// Opus packet, RFC 6716 3.1, checked with libopus). false and *error naming the problem otherwise.
bool parse_ogg_opus(const uint8_t* data, size_t size, OpusHead* head, std::vector<std::vector<uint8_t>>* packets,
                    std::string* error);

}  // namespace kvs::media
