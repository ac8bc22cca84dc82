// Logging: one-time set-up (console + optional file) and the calls the library logs with.
// spdlog stays inside src/core/logging.cpp; callers only see fmt.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

namespace infalign::log {

enum class Level { Trace, Debug, Info, Warn, Error, Off };

struct LoggingOptions {
  Level level = Level::Info;
  // Also append to this file ("" = console only). Its directory must exist.
  std::string file_path = "";
};

// (Re)configures the process-wide logger: stderr, plus `file_path` when set. Pattern
// `[%Y-%m-%d %H:%M:%S.%e] [%l] %v`. Throws infalign::Error when the file cannot be opened.
void init_logging(const LoggingOptions& options);
// Flushes and closes the log file (the console sink stays).
void shutdown_logging();
void set_level(Level level);
bool enabled(Level level);
void write(Level level, std::string_view message);
void flush();

template <class... Args>
void trace(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::Trace)) write(Level::Trace, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::Debug)) write(Level::Debug, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::Info)) write(Level::Info, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::Warn)) write(Level::Warn, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::Error)) write(Level::Error, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace infalign::log
