// Native log lines: "[kvs-edge] LEVEL [peer-id] message" on stderr. Every line names the peer
// it belongs to, so a log of many sessions reads one session at a time.
#pragma once
#include <string>

namespace kvs::rtc {

enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

void set_log_level(LogLevel level);
LogLevel log_level();
void log_line(LogLevel level, const std::string& id, const char* fmt, ...)
    __attribute__((format(printf, 3, 4)));

}  // namespace kvs::rtc

#define KVS_LOG(level, id, ...)                                   \
  do {                                                            \
    if ((level) <= ::kvs::rtc::log_level()) ::kvs::rtc::log_line((level), (id), __VA_ARGS__); \
  } while (0)
#define KVS_ERROR(id, ...) KVS_LOG(::kvs::rtc::LogLevel::kError, id, __VA_ARGS__)
#define KVS_WARN(id, ...) KVS_LOG(::kvs::rtc::LogLevel::kWarn, id, __VA_ARGS__)
#define KVS_INFO(id, ...) KVS_LOG(::kvs::rtc::LogLevel::kInfo, id, __VA_ARGS__)
#define KVS_DEBUG(id, ...) KVS_LOG(::kvs::rtc::LogLevel::kDebug, id, __VA_ARGS__)
