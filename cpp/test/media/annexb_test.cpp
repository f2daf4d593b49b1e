// split_annexb (ITU-T H.264 Annex B byte stream): one row per case.
#include "annexb.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace kvs::media {
namespace {

using Bytes = std::vector<uint8_t>;

std::vector<Bytes> split(const Bytes& in) {
  std::vector<Bytes> out;
  for (const NalUnit& nal : split_annexb(in.data(), in.size())) out.emplace_back(nal.data, nal.data + nal.size);
  return out;
}

struct Case {
  std::string name;
  Bytes input;
  std::vector<Bytes> nals;
};

class AnnexBSplit : public ::testing::TestWithParam<Case> {};

TEST_P(AnnexBSplit, YieldsExpectedNalUnits) {
  EXPECT_EQ(split(GetParam().input), GetParam().nals);
}

INSTANTIATE_TEST_SUITE_P(
    Table, AnnexBSplit,
    ::testing::Values(
        Case{"empty", {}, {}},
        Case{"only_start_code", {0, 0, 1}, {}},
        Case{"no_start_code", {0x67, 0x42, 0x00, 0x1f}, {}},
        Case{"three_byte_codes", {0, 0, 1, 0x67, 0x42, 0, 0, 1, 0x68, 0xce}, {{0x67, 0x42}, {0x68, 0xce}}},
        Case{"four_byte_codes", {0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x68, 0xce}, {{0x67, 0x42}, {0x68, 0xce}}},
        Case{"mixed_codes", {0, 0, 0, 1, 0x67, 0, 0, 1, 0x68, 0, 0, 0, 1, 0x65, 0x88}, {{0x67}, {0x68}, {0x65, 0x88}}},
        Case{"trailing_zero_bytes_between", {0, 0, 1, 0x67, 0x42, 0, 0, 0, 0, 0, 1, 0x68}, {{0x67, 0x42}, {0x68}}},
        Case{"trailing_zero_bytes_at_end", {0, 0, 1, 0x65, 0x88, 0, 0, 0}, {{0x65, 0x88}}},
        Case{"garbage_before_first_code", {0xde, 0xad, 0, 0xbe, 0, 0, 0, 1, 0x09, 0xf0}, {{0x09, 0xf0}}},
        Case{"empty_nal_between_codes", {0, 0, 1, 0, 0, 1, 0x68, 0xce}, {{0x68, 0xce}}},
        Case{"one_byte_nal_at_very_end", {0, 0, 1, 0x67, 0x42, 0, 0, 1, 0x0c}, {{0x67, 0x42}, {0x0c}}},
        Case{"start_code_at_very_end", {0, 0, 1, 0x67, 0, 0, 1}, {{0x67}}},
        Case{"emulation_prevention_kept", {0, 0, 1, 0x65, 0, 0, 3, 1, 0x80}, {{0x65, 0, 0, 3, 1, 0x80}}}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

TEST(AnnexB, NalTypeIsLowFiveBitsOfHeader) {
  const Bytes in = {0, 0, 0, 1, 0x67, 0, 0, 0, 1, 0x68, 0, 0, 1, 0x65, 0, 0, 1, 0x41};
  std::vector<int> types;
  for (const NalUnit& nal : split_annexb(in.data(), in.size())) types.push_back(nal.type());
  EXPECT_EQ(types, (std::vector<int>{kNalSps, kNalPps, kNalIdr, kNalSlice}));
}

TEST(AnnexB, NullBufferOfSizeZero) { EXPECT_TRUE(split_annexb(nullptr, 0).empty()); }

}  // namespace
}  // namespace kvs::media
