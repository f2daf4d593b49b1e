// The offers captured from real stacks (cpp/test/rtc/offers/*.sdp), read by name.
#pragma once
#include <fstream>
#include <sstream>
#include <string>

inline std::string read_offer(const std::string& name) {
  std::ifstream in(std::string(KVS_OFFERS_DIR) + "/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
