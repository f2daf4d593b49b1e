#include "log.h"

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace kvs::rtc {
namespace {

LogLevel initial_level() {
  const char* env = std::getenv("KVS_EDGE_NATIVE_LOG");
  if (!env) return LogLevel::kWarn;
  if (!std::strcmp(env, "error")) return LogLevel::kError;
  if (!std::strcmp(env, "info")) return LogLevel::kInfo;
  if (!std::strcmp(env, "debug")) return LogLevel::kDebug;
  return LogLevel::kWarn;
}

std::atomic<int> g_level{static_cast<int>(initial_level())};

}  // namespace

void set_log_level(LogLevel level) { g_level = static_cast<int>(level); }
LogLevel log_level() { return static_cast<LogLevel>(g_level.load(std::memory_order_relaxed)); }

void log_line(LogLevel level, const std::string& id, const char* fmt, ...) {
  static const char* names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "[kvs-edge] %s [%s] %s\n", names[static_cast<int>(level)], id.c_str(), msg);
}

}  // namespace kvs::rtc
