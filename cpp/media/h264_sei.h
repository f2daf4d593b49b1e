// H.264 SEI (supplemental enhancement information) messages: parsing (untrusted input) and the
// capture-timestamp SEI (user_data_unregistered, payloadType 5) that lets a viewer measure
// glass-to-glass latency.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace kvs::media {

struct SeiMessage {
  uint32_t type = 0;              // payloadType (5 = user_data_unregistered)
  std::vector<uint8_t> payload;   // payload bytes, emulation prevention removed
};

// Removes emulation_prevention_three_byte (00 00 03 -> 00 00) from NAL unit bytes.
std::vector<uint8_t> h264_unescape_rbsp(const uint8_t* data, size_t size);
// Inserts emulation_prevention_three_byte where 00 00 is followed by 00..03.
std::vector<uint8_t> h264_escape_rbsp(const uint8_t* data, size_t size);

// Parses an SEI NAL unit (header byte included). Returns false when it is not an SEI NAL unit
// or is malformed; the messages read before the fault are still appended to *out.
bool parse_sei_nal(const uint8_t* nal, size_t size, std::vector<SeiMessage>* out);

// The UUID that marks kvs-edge's capture-timestamp SEI.
extern const uint8_t kKvsTimestampSeiUuid[16];
// An SEI NAL unit (header byte included, no start code) carrying one user_data_unregistered
// message: the UUID above, then the timestamp as 8 bytes big-endian.
std::vector<uint8_t> make_timestamp_sei_nal(uint64_t timestamp_us);
// Finds kvs-edge's timestamp in an SEI NAL unit.
bool find_timestamp_sei(const uint8_t* nal, size_t size, uint64_t* timestamp_us);

// Puts a start code + make_timestamp_sei_nal(timestamp_us) in front of the first slice NAL unit
// of an Annex-B access unit (after any AUD/SPS/PPS). Returns false (buffer unchanged) when it
// holds no slice.
bool insert_timestamp_sei(std::vector<uint8_t>* annexb, uint64_t timestamp_us);
// The wall-clock time (us since the epoch) of a CLOCK_MONOTONIC time in us.
int64_t monotonic_to_wall_us(int64_t monotonic_us);
// The wall clock now, us since the epoch.
int64_t wall_clock_us();

}  // namespace kvs::media
