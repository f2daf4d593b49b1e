// libFuzzer target: the Ogg page reader and the Ogg Opus file parser (an audio source file is
// untrusted input), and a write -> read round trip of whatever packets were read.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "ogg.h"

using namespace kvs::media;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  OggReader reader(data, size);
  OggPacket p;
  std::vector<std::vector<uint8_t>> packets;
  size_t total = 0;
  while (reader.next(&p)) {
    total += p.data.size();
    packets.push_back(std::move(p.data));
  }
  if (total > size) abort();  // packets are made of the input's bytes

  OpusHead head;
  std::vector<std::vector<uint8_t>> audio;
  std::string error;
  if (parse_ogg_opus(data, size, &head, &audio, &error)) {
    if (head.channels < 1 || head.channels > 2 || audio.empty()) abort();
  } else if (error.empty()) {
    abort();  // every refusal names its reason
  }

  // What was read, written again, reads back the same.
  OggWriter writer(1);
  std::vector<uint8_t> file;
  int64_t granule = 0;
  for (const auto& pkt : packets) {
    auto b = writer.add(pkt.data(), pkt.size(), granule += 960);
    file.insert(file.end(), b.begin(), b.end());
  }
  auto b = writer.flush(true);
  file.insert(file.end(), b.begin(), b.end());
  OggReader again(file.data(), file.size());
  size_t i = 0;
  while (again.next(&p)) {
    if (i >= packets.size() || p.data != packets[i]) abort();
    ++i;
  }
  if (i != packets.size() || !again.error().empty()) abort();
  return 0;
}
